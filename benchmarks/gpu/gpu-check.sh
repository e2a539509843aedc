#!/bin/bash
# Runs on the GPU machine after device-run.sh has unpacked .NET (host-libtorch mode), all in one call:
# engine benchmark on CUDA (device check included), the PyTorch eager reference on the same card, and the
# service under load against the Python peer on the same card. Results land in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export UNCERTAINTY_LIBTORCH_DIR="$torch_lib" Uncertainty__LibTorchDirectory="$torch_lib"
echo "== engine (TorchSharp, CUDA)"
timeout 200 dotnet .device/app/Uncertainty.Benchmarks.dll --device cuda --check-devices --case-seconds 0.5 --json "$OUT/engine-cuda.json" | tail -70
echo "== PyTorch eager reference"
timeout 90 python3 .device/pytorch_reference.py --seconds 0.5 > "$OUT/pytorch-cuda.json" && tail -c 600 "$OUT/pytorch-cuda.json"
echo "== service under load vs the Python peer"
API_DLL=.device/api/Uncertainty.Api.dll LOADGEN_DLL=.device/loadgen/Uncertainty.LoadGenerator.dll BENCH_DLL=.device/app/Uncertainty.Benchmarks.dll \
PEER_PY=.device/aiohttp_server.py timeout 150 bash .device/run-load.sh --device cuda --model reference --clients "1 64" --seconds 3 --python python3 --out "$OUT/load-cuda.json"
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
