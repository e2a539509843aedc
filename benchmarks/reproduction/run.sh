#!/usr/bin/env bash
# Regenerates the runs behind docs/reproduction.md (on a 2-core machine about 25 minutes, plus 10 with UCI_DIR):
# Gal & Ghahramani's protocol on Boston and Concrete, and the breast-cancer classifier with and without
# label smoothing and mixup. Results go to artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p artifacts
dotnet build -c Release src/Uncertainty.Cli -v quiet -nologo >/dev/null
cli="dotnet src/Uncertainty.Cli/bin/Release/net10.0/uncertainty.dll"

# The protocol's defaults (4,000 epochs at batch 128, Glorot initialisation) on seeded random splits made as the
# authors' split script makes them.
$cli reproduce --dataset boston --tau-grid 0.1,0.15,0.2 --split-count 20 --seed 0 --json artifacts/reproduce-boston.json | tee artifacts/reproduce-boston.log
$cli reproduce --dataset concrete --tau-grid 0.025,0.05,0.075 --split-count 20 --seed 0 --json artifacts/reproduce-concrete.json | tee artifacts/reproduce-concrete.log

# The paper's own splits, grid and epochs (40 x 100), where a local copy of the authors' UCI_Datasets directory
# is given as UCI_DIR (the split files are not part of this repository); any other set of their table runs the same way.
if [ -n "${UCI_DIR:-}" ]; then
  for set in bostonHousing concrete; do
    $cli reproduce --published "$UCI_DIR/$set/data" --json "artifacts/reproduce-$set-published.json" | tee "artifacts/reproduce-$set-published.log"
  done
fi

# Breast cancer: 5 seeded 80/20 splits per variant; MC dropout with T = 1000.
for variant in plain smoothing mixup both; do
  case $variant in
    plain) extra=() ;;
    smoothing) extra=(--label-smoothing 0.1) ;;
    mixup) extra=(--mixup 0.2) ;;
    both) extra=(--label-smoothing 0.1 --mixup 0.2) ;;
  esac
  for seed in 1 2 3 4 5; do
    out=artifacts/bc-$variant-$seed
    rm -rf "$out"
    $cli train --dataset breast_cancer --hidden 64 --input-dropout 0.1 --dropout 0.3 --epochs 150 --lr 0.001 \
      --validation-fraction 0.15 --patience 30 --test-fraction 0.2 --samples 1000 --seed $seed "${extra[@]}" \
      --out "$out" --json "$out.json" > "$out.log"
  done
done
python3 benchmarks/reproduction/summarise_classification.py artifacts
