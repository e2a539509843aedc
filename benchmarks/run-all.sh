#!/usr/bin/env bash
# Regenerates the CPU results and docs/benchmarks.{md,json}: the engine benchmark, the service under load
# (with the Python peer, which needs Debian's python3-aiohttp and python3-torch), then the report. GPU results
# come from benchmarks/gpu/ (see docs/benchmarks.md) and are kept in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import aiohttp, torch' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiohttp python3-torch >/dev/null
fi
bash benchmarks/run-engine.sh
bash benchmarks/run-load.sh --device cpu --seconds 8
python3 benchmarks/report.py
