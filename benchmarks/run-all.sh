#!/usr/bin/env bash
# Regenerates the CPU results and docs/benchmarks.{md,json}: the engine benchmark, the service under load
# (with the Python peer, which needs Debian's python3-aiohttp and python3-torch), the training step, the authors'
# protocol when UCI_DIR is set, then the report. GPU results
# come from benchmarks/gpu/ (see docs/benchmarks.md) and are kept in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c 'import aiohttp, torch' 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiohttp python3-torch >/dev/null
fi
bash benchmarks/run-engine.sh
bash benchmarks/run-load.sh --device cpu --seconds 8
bash benchmarks/run-training.sh
# The authors' full protocol, timed, where their UCI_Datasets directory is given (not part of this repository).
if [ -n "${UCI_DIR:-}" ]; then bash benchmarks/run-protocol.sh; fi
python3 benchmarks/report.py
