#!/usr/bin/env bash
# The authors' full protocol timed on this machine's CPU, one run per data set: `reproduce --published` on their data
# set directories (20 splits, their grid, 4,000 epochs, T = 10,000, splits shared among processes, one core each).
# Needs a local copy of their repository's UCI_Datasets directory (not part of this repository): UCI_DIR=... .
# Writes benchmarks/results/protocol-cpu.json (read by benchmarks/report.py); run with nothing else on the machine.
# Usage: UCI_DIR=.../UCI_Datasets benchmarks/run-protocol.sh [data set directory names]
set -euo pipefail
cd "$(dirname "$0")/.."
: "${UCI_DIR:?set UCI_DIR to a copy of the UCI_Datasets directory of the authors}"
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(bostonHousing concrete)
dotnet build -c Release src/Uncertainty.Cli -v quiet -nologo >/dev/null
mkdir -p artifacts benchmarks/results
runs=()
for set in "${sets[@]}"; do
  dotnet src/Uncertainty.Cli/bin/Release/net10.0/uncertainty.dll reproduce --published "$UCI_DIR/$set/data" \
    --json "artifacts/reproduce-$set-published.json" | tee "artifacts/reproduce-$set-published.log"
  runs+=("artifacts/reproduce-$set-published.json")
done
/usr/bin/env python3 - "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "${runs[@]}" <<'PY'
import datetime, json, sys
machine, paths = sys.argv[1], sys.argv[2:]
runs = []
for path in paths:
    r = json.load(open(path))
    runs.append({"dataset": r["dataset"], "rows": r["rows"], "splits": len(r["splits"]), "epochs": r["options"]["epochs"],
                 "samples": r["options"]["samples"], "grid": len(r["options"]["dropoutGrid"]) * len(r["options"]["tauGrid"]),
                 "seconds": round(r["seconds"], 1), "mcRmse": r["mcRmse"], "mcLogLikelihood": r["mcLogLikelihood"],
                 "weightScalingRmse": r["weightScalingRmse"]})
json.dump({"machine": machine, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
           "command": "UCI_DIR=... benchmarks/run-protocol.sh " + " ".join(r["dataset"] for r in runs), "runs": runs},
          open("benchmarks/results/protocol-cpu.json", "w"), indent=1)
print("wrote benchmarks/results/protocol-cpu.json")
PY
