#!/bin/bash
# Runs on the GPU machine after device-run.sh has unpacked .NET: host-libtorch mode via UNCERTAINTY_LIBTORCH_DIR.
set -uo pipefail
torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
echo "torch lib: $torch_lib"; ldd --version | head -1; strings /lib/x86_64-linux-gnu/libstdc++.so.6 2>/dev/null | grep -c GLIBCXX_3.4.32 || true
echo "== host libtorch through UNCERTAINTY_LIBTORCH_DIR, no LD_LIBRARY_PATH"
if ! env -u LD_LIBRARY_PATH UNCERTAINTY_LIBTORCH_DIR="$torch_lib" timeout 300 dotnet .device/app/Uncertainty.Benchmarks.dll --device cuda --check-devices --json "$OUT/gpu.json"; then
  echo "== retry with LD_LIBRARY_PATH (device-run.sh's way)"
  timeout 300 dotnet .device/app/Uncertainty.Benchmarks.dll --device cuda --check-devices --json "$OUT/gpu.json"
fi
