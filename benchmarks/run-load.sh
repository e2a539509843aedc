#!/usr/bin/env bash
# Service under load: B = 1, T = 100 requests from the C# closed-loop load generator at 1, 8, 32 and 64
# concurrent clients, with dynamic batching on and off, against the published service (Release) and against
# the Python peer (benchmarks/peer/aiohttp_server.py: aiohttp + PyTorch, the same MC computation) in the
# same run. Writes one JSON file of runs. Bounded: each run is a warm-up plus SECONDS, at most 200,000 requests.
# Usage: benchmarks/run-load.sh [--device cpu|cuda] [--seconds 8] [--out FILE] [--no-peer] [--python PYTHON]
#        [--model small|reference] [--clients "1 8 32 64"]
# small (13-50-50-1, the CPU comparison) also measures the reference model at 1 and 32 clients;
# reference (64-1024-1024-1, the GPU comparison) is the peer's default network.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu; seconds=8; out=""; peer=1; python=/usr/bin/python3; clients_list="1 8 32 64"; model=small
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift ;; --seconds) seconds=$2; shift ;; --out) out=$2; shift ;;
    --no-peer) peer=0 ;; --python) python=$2; shift ;; --clients) clients_list=$2; shift ;; --model) model=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-benchmarks/results/load-$device.json}
port=18400; peer_port=18300
api=${API_DLL:-artifacts/api/Uncertainty.Api.dll}
loadgen=${LOADGEN_DLL:-benchmarks/Uncertainty.LoadGenerator/bin/Release/net10.0/Uncertainty.LoadGenerator.dll}
bench=${BENCH_DLL:-benchmarks/Uncertainty.Benchmarks/bin/Release/net10.0/Uncertainty.Benchmarks.dll}
if [ -z "${API_DLL:-}" ]; then
  dotnet publish src/Uncertainty.Api -c Release -o artifacts/api -v quiet -nologo >/dev/null
  dotnet build -c Release benchmarks/Uncertainty.LoadGenerator -v quiet -nologo >/dev/null
  dotnet build -c Release benchmarks/Uncertainty.Benchmarks -v quiet -nologo >/dev/null
fi

store=$(mktemp -d)
runs=$(mktemp)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$store" "$runs"; }
trap cleanup EXIT
dotnet "$bench" --device cpu --make-models "$store" >/dev/null

small_body='{"inputs": [[0.1, -0.3, 0.5, 0.0, 0.2, 0.7, -0.1, 0.4, -0.6, 0.3, 0.05, -0.2, 0.9]], "samples": 100, "seed": 1}'
reference_body="{\"inputs\": [[$(seq -s, 0.01 0.01 0.64)]], \"samples\": 100, \"seed\": 1}"
if [ "$model" = small ]; then body=$small_body; peer_shape="--inf 13 --hid 50"; else body=$reference_body; peer_shape="--inf 64 --hid 1024"; fi

wait_ready() { # url
  for _ in $(seq 1 240); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "not ready: $1" >&2; exit 1
}

load() { # target model batching clients url body
  local result
  result=$(dotnet "$loadgen" "$5" --clients "$4" --seconds "$seconds" --warmup 2 --max-requests 200000 --body "$6")
  echo "{\"target\": \"$1\", \"model\": \"$2\", \"batching\": $3, \"result\": $result}" >>"$runs"
  echo "$1 $2 batching=$3 clients=$4: $result" >&2
}

for batching in true false; do
  Uncertainty__ModelStore="$store" Uncertainty__Device="$device" Uncertainty__DefaultModel=small \
  Uncertainty__DynamicBatching=$batching Uncertainty__QueueCapacity=4096 Serilog__MinimumLevel__Default=Warning \
  ASPNETCORE_URLS="http://127.0.0.1:$port" dotnet "$api" >/dev/null 2>&1 &
  pid=$!
  wait_ready "http://127.0.0.1:$port/health/ready"
  for clients in $clients_list; do
    load uncertainty "$model" "$batching" "$clients" "http://127.0.0.1:$port/models/$model/predict" "$body"
  done
  if [ "$model" = small ]; then
    for clients in 1 32; do
      load uncertainty reference "$batching" "$clients" "http://127.0.0.1:$port/models/reference/predict" "$reference_body"
    done
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done

if [ "$peer" = 1 ]; then
  for batch_ms in 0 2; do
    # shellcheck disable=SC2086
    "$python" "${PEER_PY:-benchmarks/peer/aiohttp_server.py}" --port "$peer_port" $peer_shape --device "$device" --batch-ms "$batch_ms" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 240); do curl -fsS -X POST "http://127.0.0.1:$peer_port/predict" -d "$body" >/dev/null 2>&1 && break; sleep 0.5; done
    batching=$([ "$batch_ms" = 0 ] && echo false || echo true)
    for clients in $clients_list; do
      load peer "$model" "$batching" "$clients" "http://127.0.0.1:$peer_port/predict" "$body"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
fi

mkdir -p "$(dirname "$out")"
{
  echo "{\"machine\": \"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)$( [ "$device" = cuda ] && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^/, /')\","
  echo " \"device\": \"$device\", \"date\": \"$(date -u +%Y-%m-%dT%H:%MZ)\", \"command\": \"benchmarks/run-load.sh --device $device --model $model --seconds $seconds\","
  echo " \"runs\": [$(paste -sd, "$runs")]}"
} >"$out"
echo "wrote $out" >&2
