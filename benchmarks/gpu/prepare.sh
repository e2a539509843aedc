#!/usr/bin/env bash
# Prepares .device/ for a run on a GPU machine that has PyTorch but no .NET (the lent H100/H200):
# the .NET runtime, the benchmark published without the libtorch-cpu natives, and the scripts.
# Then, on the GPU machine: bash .device/device-run.sh bash .device/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SHARED:-../shared}
rm -rf .device/app && mkdir -p .device
[ -f .device/dotnet-rt.tar.xz ] || bash "$shared/gpu/pack-runtime.sh" .device
cp "$shared/gpu/device-run.sh" benchmarks/gpu/gpu-check.sh .device/
dotnet publish benchmarks/Uncertainty.Benchmarks -c Release -r linux-x64 -p:UseHostLibTorch=true --self-contained false -o .device/app -v quiet -nologo
du -sh .device
