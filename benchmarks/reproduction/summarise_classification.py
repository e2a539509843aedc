"""Prints the breast-cancer table of docs/reproduction.md from artifacts/bc-*.json."""
import glob, json, statistics, sys

root = sys.argv[1] if len(sys.argv) > 1 else "artifacts"
print("| variant | MC accuracy | WS accuracy | MC NLL | WS NLL | MC ECE | WS ECE | MC Brier |")
print("|---|---|---|---|---|---|---|---|")
for variant in ["plain", "smoothing", "mixup", "both"]:
    runs = [json.load(open(p))["test"] for p in sorted(glob.glob(f"{root}/bc-{variant}-*.json"))]
    if not runs:
        continue
    def cell(kind, key):
        values = [r[kind][key] for r in runs]
        mean = statistics.mean(values)
        se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0
        return f"{mean:.4f} ± {se:.4f}"
    mc, ws = "mcDropoutClassification", "weightScalingClassification"
    print(f"| {variant} ({len(runs)} splits) | {cell(mc, 'accuracy')} | {cell(ws, 'accuracy')} | {cell(mc, 'negativeLogLikelihood')} | "
          f"{cell(ws, 'negativeLogLikelihood')} | {cell(mc, 'expectedCalibrationError')} | {cell(ws, 'expectedCalibrationError')} | {cell(mc, 'brier')} |")
