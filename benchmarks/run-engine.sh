#!/usr/bin/env bash
# Engine benchmark on this machine's CPU (or --device cuda on a GPU host); prints a markdown table and writes
# benchmarks/results/engine-<device>.json (engine-cnn-<device>.json with --cnn-only).
# Usage: benchmarks/run-engine.sh [--device cpu|cuda] [--check-devices] [--quick] [--cnn-only | --sequence-only]
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu
kind=engine
for ((i = 1; i <= $#; i++)); do
  [ "${!i}" = --device ] && j=$((i + 1)) && device=${!j}
  [ "${!i}" = --cnn-only ] && kind=engine-cnn # the convolutional cases alone, in their own result file
  [ "${!i}" = --sequence-only ] && kind=engine-sequence # the LSTM and Transformer cases alone
done
mkdir -p benchmarks/results
dotnet build -c Release benchmarks/Uncertainty.Benchmarks -v quiet -nologo >/dev/null
dotnet benchmarks/Uncertainty.Benchmarks/bin/Release/net10.0/Uncertainty.Benchmarks.dll --json "benchmarks/results/$kind-$device.json" "$@"
