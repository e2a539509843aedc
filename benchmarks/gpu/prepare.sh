#!/usr/bin/env bash
# Prepares .device/ for one run on a GPU machine that has PyTorch but no .NET (the lent H100/H200): the .NET
# runtime; the engine benchmark, the service and the load generator published without the libtorch-cpu
# natives; the load script, the Python peer and the PyTorch reference.
# Then, with the device tool: bash .device/device-run.sh bash .device/gpu-check.sh   (carry: [".device"])
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SHARED:-../shared}
rm -rf .device/app .device/api .device/loadgen && mkdir -p .device
[ -f .device/dotnet-rt.tar.xz ] || bash "$shared/gpu/pack-runtime.sh" .device
cp "$shared/gpu/device-run.sh" benchmarks/gpu/gpu-check.sh benchmarks/gpu/pytorch_reference.py benchmarks/run-load.sh benchmarks/peer/aiohttp_server.py .device/
publish() { dotnet publish "$1" -c Release -r linux-x64 -p:UseHostLibTorch=true --self-contained false -o "$2" -v quiet -nologo; }
publish benchmarks/Uncertainty.Benchmarks .device/app
publish src/Uncertainty.Api .device/api
publish benchmarks/Uncertainty.LoadGenerator .device/loadgen
du -sh .device
