#!/usr/bin/env bash
# Training-step benchmark on this machine's CPU, in one run: the protocol's 13-50-1 MLP (Adam, batch 128) trained by
# Trainer, by the grid trainer with K = 1 and K = 12 configurations, and by PyTorch's own loop (Debian's python3-torch
# under /usr/bin/python3). Prints a markdown table and writes benchmarks/results/training-cpu.json (read by
# benchmarks/report.py); run with nothing else on the machine.
# Usage: benchmarks/run-training.sh [epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1000}
dotnet build -c Release benchmarks/Uncertainty.Benchmarks -v quiet -nologo >/dev/null
lines=$(dotnet benchmarks/Uncertainty.Benchmarks/bin/Release/net10.0/Uncertainty.Benchmarks.dll --training-step --epochs "$epochs" | grep '^STEP')
lines+=$'\n'$(/usr/bin/python3 benchmarks/peer/training_step.py "$epochs" | grep '^STEP')
echo "Training step, CPU, $(nproc) cores, $(date -u +%FT%TZ), $epochs epochs of 3 steps per case"
echo
echo "| case | ms per step | per configuration |"
echo "|---|---|---|"
while IFS=$'\t' read -r _ name ms; do
  k=1; [[ $name == *"K = 12"* ]] && k=12
  awk -v n="$name" -v ms="$ms" -v k="$k" 'BEGIN { printf "| %s | %.3f | %.3f |\n", n, ms, ms / k }'
done <<<"$lines"

mkdir -p benchmarks/results
{
  echo "{\"machine\": \"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\","
  echo " \"command\": \"benchmarks/run-training.sh $epochs\", \"cases\": ["
  first=1
  while IFS=$'\t' read -r _ name ms; do
    k=1; [[ $name == *"K = 12"* ]] && k=12
    [ $first = 1 ] || echo ","
    first=0
    printf '  {"case": "%s", "msPerStep": %s, "configurations": %s}' "$name" "$ms" "$k"
  done <<<"$lines"
  echo "]}"
} >benchmarks/results/training-cpu.json
echo "wrote benchmarks/results/training-cpu.json"
