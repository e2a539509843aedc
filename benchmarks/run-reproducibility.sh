#!/usr/bin/env bash
# Cost of MKL's conditional numerical reproducibility on the MC engine: one process per setting (MKL reads MKL_CBWR
# once), settings interleaved over several rounds so that a noisy, shared machine drifts into every setting alike.
# Prints per-cell medians over rounds and each setting's time relative to MKL's default in the same round.
# Usage: benchmarks/run-reproducibility.sh [rounds] [seconds per cell]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-1}
dotnet build -c Release benchmarks/Uncertainty.Benchmarks -v quiet -nologo >/dev/null
out=$(mktemp)
for ((round = 1; round <= rounds; round++)); do
  for setting in off COMPATIBLE AUTO AUTO,STRICT; do
    if [ "$setting" = off ]; then env=(UNCERTAINTY_CPU_REPRODUCIBILITY=off); else env=(MKL_CBWR="$setting"); fi
    env "${env[@]}" dotnet benchmarks/Uncertainty.Benchmarks/bin/Release/net10.0/Uncertainty.Benchmarks.dll \
      --reproducibility-cost --case-seconds "$seconds" | grep '^COST' | sed "s/^/$round\t/" >>"$out"
  done
done
python3 - "$out" <<'PY'
import collections, statistics, sys
cells = collections.defaultdict(dict)  # (network, rows, setting, variant) -> {round: median ms}
for line in open(sys.argv[1]):
    rnd, _, setting, variant, network, rows, median, _ = line.rstrip("\n").split("\t")
    cells[(network, int(rows), setting, variant)][rnd] = float(median)
base = lambda network, rows: cells[(network, rows, "unset", "plain")]
print("| network | B | T | MKL_CBWR | predictor | median ms (over rounds) | vs MKL default, same round (median) |")
print("|---|---|---|---|---|---|---|")
for key in sorted(cells, key=lambda k: (k[0], k[1], ["unset", "COMPATIBLE", "AUTO", "AUTO,STRICT"].index(k[2]), k[3])):
    network, rows, setting, variant = key
    runs, reference = cells[key], base(network, rows)
    ratio = statistics.median(runs[r] / reference[r] for r in runs if r in reference)
    print(f"| {network} | {rows} | 100 | {setting} | {variant} | {statistics.median(runs.values()):.3f} | {ratio:.3f} |")
PY
rm -f "$out"
