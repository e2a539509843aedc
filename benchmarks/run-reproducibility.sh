#!/usr/bin/env bash
# Cost of MKL's conditional numerical reproducibility on the MC engine: one process per setting (MKL reads MKL_CBWR
# once), settings interleaved over several rounds so that a noisy, shared machine drifts into every setting alike.
# Prints each setting's time relative to MKL's default: fastest run over all processes, and median over rounds.
# Usage: benchmarks/run-reproducibility.sh [rounds] [seconds per cell]   (REPRODUCIBILITY_RAW=FILE keeps the per-process lines)
#        benchmarks/run-reproducibility.sh --summarise FILE               (the tables again, from kept lines)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-1}
out=$(mktemp)
if [ "$rounds" = --summarise ]; then cp "$2" "$out"; rounds=0; else dotnet build -c Release benchmarks/Uncertainty.Benchmarks -v quiet -nologo >/dev/null; fi
for ((round = 1; round <= rounds; round++)); do
  for setting in off COMPATIBLE AUTO AUTO,STRICT; do
    if [ "$setting" = off ]; then env=(UNCERTAINTY_CPU_REPRODUCIBILITY=off); else env=(MKL_CBWR="$setting"); fi
    env "${env[@]}" dotnet benchmarks/Uncertainty.Benchmarks/bin/Release/net10.0/Uncertainty.Benchmarks.dll \
      --reproducibility-cost --case-seconds "$seconds" | grep '^COST' | sed "s/^/$round\t/" >>"$out"
  done
done
python3 - "$out" <<'PY'
import collections, statistics, sys
cells = collections.defaultdict(dict)  # (network, rows, setting, variant) -> {round: (median ms, min ms)}
for line in open(sys.argv[1]):
    rnd, _, setting, variant, network, rows, median, low = line.rstrip("\n").split("\t")
    cells[(network, int(rows), setting, variant)][rnd] = (float(median), float(low))
columns = [("AUTO", "plain"), ("AUTO,STRICT", "plain"), ("COMPATIBLE", "plain"), ("unset", "padded, host statistics"), ("AUTO", "padded, host statistics")]
names = ["AUTO", "AUTO,STRICT", "COMPATIBLE", "MKL default, padded + host stats", "AUTO, padded + host stats (the new default)"]
print("Time relative to MKL's default (MKL_CBWR unset, passes not padded). First: fastest run of all processes (interference on a")
print("shared machine only adds time); then: median over rounds of each process's median [range of the per-round ratio].")
print("| network | B | T | MKL default, fastest / median ms | " + " | ".join(names) + " |")
print("|---|---|---|---|" + "---|" * len(names))
for network, rows in sorted({(k[0], k[1]) for k in cells}):
    base = cells[(network, rows, "unset", "plain")]
    base_min = min(low for _, low in base.values())
    base_median = statistics.median(median for median, _ in base.values())
    row = [f"{base_min:.3f} / {base_median:.3f}"]
    for key in columns:
        runs = cells[(network, rows) + key]
        fastest = min(low for _, low in runs.values()) / base_min
        median = statistics.median(m for m, _ in runs.values()) / base_median
        per_round = [runs[r][0] / base[r][0] for r in runs if r in base]
        row.append(f"{fastest:.2f}; {median:.2f} [{min(per_round):.2f}-{max(per_round):.2f}]")
    print(f"| {network} | {rows} | 100 | " + " | ".join(row) + " |")
PY
if [ -n "${REPRODUCIBILITY_RAW:-}" ]; then cp "$out" "$REPRODUCIBILITY_RAW"; fi
rm -f "$out"
