"""Renders docs/benchmarks.md and docs/benchmarks.json from the result files in benchmarks/results/
(engine-cpu.json, load-cpu.json from benchmarks/run-all.sh; training-cpu.json from benchmarks/run-training.sh;
protocol-cpu.json from benchmarks/run-protocol.sh; engine-cuda.json, pytorch-cuda.json,
load-cuda.json from the GPU run, benchmarks/gpu/). Standard library only.
Usage: python3 benchmarks/report.py"""
import json, os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
REFERENCE = "MLP 64-1024-1024-1, p=0.1"


def load(name):
    path = os.path.join(RESULTS, name)
    return json.load(open(path)) if os.path.exists(path) else None


def engine_cell(engine, network, rows, samples, variant):
    for r in engine["results"]:
        if r["network"] == network and r["rows"] == rows and r["samples"] == samples and r["variant"] == variant:
            return r
    return None


def load_run(load, target, model, batching, clients):
    for run in load["runs"]:
        if run["target"] == target and run["model"] == model and run["batching"] == batching and run["result"]["clients"] == clients:
            return run["result"]
    return None


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def engine_table(engine):
    lines = ["| network | B | T | variant | median ms | min ms | speed-up (or peak RSS growth) |", "|---|---|---|---|---|---|---|"]
    for r in engine["results"]:
        last = f"{r['ratio']:.2f}x" if r.get("ratio") else (f"{r['peakRssGrowthMb']:.0f} MB" if r.get("peakRssGrowthMb") is not None else "")
        lines.append(f"| {r['network']} | {r['rows']} | {r['samples']} | {r['variant']} | {r['medianMs']:.2f} | {r['minMs']:.2f} | {last} |")
    return "\n".join(lines)


def load_table(load):
    lines = ["| server | model | dynamic batching | clients | requests/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|---|"]
    for run in load["runs"]:
        r = run["result"]
        server = "Uncertainty" if run["target"] == "uncertainty" else "Python peer (aiohttp + PyTorch)"
        lines.append(f"| {server} | {run['model']} | {'on' if run['batching'] else 'off'} | {r['clients']} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} |")
    return "\n".join(lines)


def best(load, target, model, clients):
    runs = [load_run(load, target, model, b, clients) for b in (True, False)]
    runs = [r for r in runs if r]
    return max(runs, key=lambda r: r["rps"]) if runs else None


def cpu_headlines(engine, load):
    h = {}
    if engine:
        cell = engine_cell(engine, REFERENCE, 1, 100, "predictor, T folded into one pass")
        h["batchedOverLoopSpeedup"] = {"value": cell and round(cell["ratio"], 2), "target": ">= 2.5", "what": "B = 1, T = 100, MLP 64-1024-1024-1: loop of T passes / one folded pass"}
        mem = next((r for r in engine["results"] if r["variant"] == "one request, chunked" and r["rows"] == 1000), None)
        h["rssGrowthMbT10kB1k"] = {"value": mem and round(mem["peakRssGrowthMb"], 1), "target": "<= 256", "what": "peak RSS growth of one T = 10,000 x B = 1,000 request (Boston model)"}
    if load:
        on = load_run(load, "uncertainty", "small", True, 32)
        off = load_run(load, "uncertainty", "small", False, 32)
        ref_on = load_run(load, "uncertainty", "reference", True, 32)
        ref_off = load_run(load, "uncertainty", "reference", False, 32)
        h["dynamicBatchingThroughputGain"] = {"value": ratio(on and on["rps"], off and off["rps"]), "target": ">= 2", "what": "32 clients, small model: requests/s with dynamic batching / without",
                                              "referenceModel": ratio(ref_on and ref_on["rps"], ref_off and ref_off["rps"])}
        ours, peer = best(load, "uncertainty", "small", 32), best(load, "peer", "small", 32)
        h["throughputOverPeer"] = {"value": ratio(ours and ours["rps"], peer and peer["rps"]), "target": ">= 5", "what": "32 clients, small (Boston-sized) model: best of ours / best of the Python peer"}
        if engine:
            for model, network, key, target in [("reference", REFERENCE, "serviceOverEngineP50", "<= 1.2"), ("small", "MLP 13-50-50-1 (the peer's small model), p=0.1", "serviceOverEngineP50SmallModel", "<= 2")]:
                c1 = load_run(load, "uncertainty", model, False, 1)
                cell = engine_cell(engine, network, 1, 100, "predictor, T folded into one pass")
                h[key] = {"value": ratio(c1 and c1["p50_ms"], cell and cell["medianMs"]), "target": target, "what": f"concurrency 1, B = 1, T = 100, {model} model: service p50 / engine median",
                          "serviceP50Ms": c1 and c1["p50_ms"], "engineMs": cell and round(cell["medianMs"], 3)}
    return h


def gpu_headlines(engine, torch_ref, load):
    h = {}
    if engine and torch_ref:
        def torch_ms(b, t, variant):
            return next((r["medianMs"] for r in torch_ref["results"] if r["B"] == b and r["T"] == t and r["variant"] == variant), None)
        ours = engine_cell(engine, REFERENCE, 1024, 100, "precision fp32") or engine_cell(engine, REFERENCE, 1024, 100, "predictor, T folded into one pass")
        h["batchedOverPyTorchFp32"] = {"value": ratio(ours and ours["medianMs"], torch_ms(1024, 100, "batched fp32")), "target": "<= 1.05", "what": "B = 1024, T = 100: our folded pass / PyTorch eager, both fp32",
                                       "oursMs": ours and round(ours["medianMs"], 2), "pytorchMs": torch_ms(1024, 100, "batched fp32")}
        for precision in ("tf32", "bf16"):
            cell = engine_cell(engine, REFERENCE, 1024, 100, f"precision {precision}")
            h[f"{precision}OverPyTorchBf16Autocast"] = {"value": ratio(cell and cell["medianMs"], torch_ms(1024, 100, "batched bf16")), "target": "<= 1" if precision == "bf16" else None,
                                                         "what": f"B = 1024, T = 100: our {precision} / PyTorch bf16 autocast", "oursMs": cell and round(cell["medianMs"], 2), "pytorchMs": torch_ms(1024, 100, "batched bf16")}
    if load:
        c1 = load_run(load, "uncertainty", "reference", True, 1)
        h["serviceP50Ms"] = {"value": c1 and c1["p50_ms"], "target": "<= 1", "what": "B = 1, T = 100, concurrency 1, reference model"}
        on, off = load_run(load, "uncertainty", "reference", True, 64), load_run(load, "uncertainty", "reference", False, 64)
        h["dynamicBatchingThroughputGain"] = {"value": ratio(on and on["rps"], off and off["rps"]), "target": ">= 20", "what": "64 clients: requests/s with dynamic batching / without"}
        ours, peer = best(load, "uncertainty", "reference", 64), best(load, "peer", "reference", 64)
        h["throughputOverPeer"] = {"value": ratio(ours and ours["rps"], peer and peer["rps"]), "target": ">= 5", "what": "64 clients, reference model: best of ours / best of the Python peer on the same card"}
    return h


LENET = "LeNet-all CNN 1x28x28 (conv 32, 64; dense 512)"


def cnn_headlines(engine):
    h = {}
    for rows in (1, 32):
        cell = engine_cell(engine, LENET, rows, 100, "predictor, T folded into one pass")
        if cell and cell.get("ratio"):
            h[f"cnnFoldedOverLoopB{rows}"] = {"value": round(cell["ratio"], 2), "target": "", "what": f"B = {rows}, T = 100, LeNet-all CNN: loop of T passes / one folded pass"}
    return h


LSTM = "LSTM 56x6 steps, hidden 48, variational (births model)"
TRANSFORMER = "Transformer encoder, 64 tokens, d 64, 4 heads, 2 layers"


def sequence_headlines(engine):
    h = {}
    for name, key in ((LSTM, "lstm"), (TRANSFORMER, "transformer")):
        for rows in (1, 32):
            cell = engine_cell(engine, name, rows, 100, "predictor, T folded into one pass")
            if cell and cell.get("ratio"):
                h[f"{key}FoldedOverLoopB{rows}"] = {"value": round(cell["ratio"], 2), "target": "", "what": f"B = {rows}, T = 100, {name}: loop of T passes / one folded pass"}
    return h


def training_headlines(training, protocol):
    h = {}
    if training:
        cases = {c["case"]: c for c in training["cases"]}
        torch_step = next((c["msPerStep"] for name, c in cases.items() if name.lower().startswith("pytorch")), None)
        trainer = next((c["msPerStep"] for name, c in cases.items() if name.lower().startswith("trainer")), None)
        grid = next((c for name, c in cases.items() if "K = 12" in name), None)
        h["trainerStepOverPyTorch"] = {"value": ratio(trainer, torch_step), "target": "<= 1", "what": "13-50-1 MLP, Adam, batch 128: Trainer's ms per step / PyTorch's own loop's, same run"}
        h["gridPerConfigurationOverPyTorch"] = {"value": ratio(grid and grid["msPerStep"] / grid["configurations"], torch_step), "target": "", "what": "the same, 12 configurations stacked: ms per step per configuration / PyTorch's one network"}
    for run in (protocol or {}).get("runs", []):
        key = "".join(w[:1].upper() + w[1:] for w in run["dataset"].replace("-", " ").split())
        h[f"protocolSeconds{key}"] = {"value": run["seconds"], "target": "<= 300" if run["dataset"] == "bostonHousing" else "",
                                      "what": f"{run['dataset']}: the authors' full protocol ({run['splits']} splits, {run['grid']}-point grid, {run['epochs']} epochs, T = {run['samples']:,}), wall seconds"}
    return h


def training_sections(training, protocol):
    out = []
    if training:
        rows = ["| case | ms per step | per configuration |", "|---|---|---|"] + [f"| {c['case']} | {c['msPerStep']:.3f} | {c['msPerStep'] / c['configurations']:.3f} |" for c in training["cases"]]
        out += [f"## Training step, CPU — {training['machine']}, {training['date']}", "", f"Command: `{training['command']}` (the protocol's 13-50-1 MLP, Adam, batch 128; PyTorch's own loop in the same run).", "", "\n".join(rows), ""]
    if protocol:
        rows = ["| data set | rows | splits | grid | epochs | T | MC RMSE | MC test LL | weight-scaling RMSE | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in protocol["runs"]:
            f = lambda m: f"{m['mean']:.3f} ± {m['standardError']:.3f}"
            rows.append(f"| {r['dataset']} | {r['rows']} | {r['splits']} | {r['grid']} | {r['epochs']} | {r['samples']:,} | {f(r['mcRmse'])} | {f(r['mcLogLikelihood'])} | {f(r['weightScalingRmse'])} | {r['seconds']} |")
        out += [f"## The authors' full protocol, CPU — {protocol['machine']}, {protocol['date']}", "", f"Command: `{protocol['command']}` (their data set directories, see docs/reproduction.md; one run per data set).", "", "\n".join(rows), ""]
    return out


def main():
    engine_cpu, load_cpu = load("engine-cpu.json"), load("load-cpu.json")
    engine_cnn_cpu = load("engine-cnn-cpu.json")
    engine_sequence_cpu = load("engine-sequence-cpu.json")
    engine_gpu, torch_gpu, load_gpu = load("engine-cuda.json"), load("pytorch-cuda.json"), load("load-cuda.json")
    training_cpu, protocol_cpu = load("training-cpu.json"), load("protocol-cpu.json")
    gpu_name = (torch_gpu or {}).get("device", "GPU")
    summary = {
        "cpu": {"machine": engine_cpu and engine_cpu["machine"], "date": engine_cpu and engine_cpu["date"], "loadDate": load_cpu and load_cpu["date"], **cpu_headlines(engine_cpu, load_cpu),
                **(cnn_headlines(engine_cnn_cpu) if engine_cnn_cpu else {}),
                **(sequence_headlines(engine_sequence_cpu) if engine_sequence_cpu else {}),
                **training_headlines(training_cpu, protocol_cpu)},
    }
    if engine_gpu:
        summary["gpu"] = {"machine": f"{engine_gpu['machine']}, {gpu_name}", "date": engine_gpu["date"], "loadDate": load_gpu and load_gpu["date"], "pytorch": torch_gpu and torch_gpu["torch"], **gpu_headlines(engine_gpu, torch_gpu, load_gpu)}
    with open(os.path.join(ROOT, "docs", "benchmarks.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    def headline_rows(section):
        rows = ["| figure | value | target | what |", "|---|---|---|---|"]
        for key, v in section.items():
            if isinstance(v, dict):
                rows.append(f"| `{key}` | {v['value']} | {v.get('target') or ''} | {v['what']} |")
        return "\n".join(rows)

    out = [open(os.path.join(ROOT, "benchmarks", "report-intro.md")).read().rstrip(), ""]
    out += ["## Headline figures (also in docs/benchmarks.json)", "", f"### CPU — {summary['cpu']['machine']}", "", headline_rows(summary["cpu"]), ""]
    if "gpu" in summary:
        out += [f"### GPU — {summary['gpu']['machine']}", "", headline_rows(summary["gpu"]), ""]
    if engine_cpu:
        out += [f"## Engine, CPU — {engine_cpu['machine']}, {engine_cpu['date'][:16]} UTC", "", f"Command: `benchmarks/run-engine.sh` (`{engine_cpu.get('command', '')}`), torch threads {engine_cpu.get('torchThreads', '?')}.", "", engine_table(engine_cpu), ""]
    if engine_cnn_cpu:
        out += [f"## Convolutional networks, CPU — {engine_cnn_cpu['machine']}, {engine_cnn_cpu['date'][:16]} UTC", "",
                f"Command: `benchmarks/run-engine.sh --cnn-only` (`{engine_cnn_cpu.get('command', '')}`), torch threads {engine_cnn_cpu.get('torchThreads', '?')}. "
                "The network is `docs/reference/lenet-all.json` (randomly initialised); the loop runs the same modules with torch's own "
                "dropout and dropout2d, T times. The prefix rows drop the first dropout2d so that the convolution stem (conv, ReLU, "
                "pool, conv, ReLU) runs once per input.", "", engine_table(engine_cnn_cpu), ""]
    if engine_sequence_cpu:
        out += [f"## Sequence networks, CPU — {engine_sequence_cpu['machine']}, {engine_sequence_cpu['date'][:16]} UTC", "",
                f"Command: `benchmarks/run-engine.sh --sequence-only` (`{engine_sequence_cpu.get('command', '')}`), torch threads {engine_sequence_cpu.get('torchThreads', '?')}. "
                "The networks are `docs/reference/sequence/births-lstm.json` and `docs/reference/sequence/benchmark-transformer.json` "
                "(randomly initialised; token rows with every other row half padding). A recurrent layer's variational masks and a "
                "Transformer's attention dropout have no built-in PyTorch module, so the loop runs the same network T times, each pass "
                "drawing one sample's masks for its B rows: what a hand-written MC loop over this model does.", "", engine_table(engine_sequence_cpu), ""]
    if load_cpu:
        out += [f"## Service under load, CPU — {load_cpu['machine']}, {load_cpu['date']}", "", f"Command: `{load_cpu['command']}`. Load generator, service and peer share the machine's cores.", "", load_table(load_cpu), ""]
    out += training_sections(training_cpu, protocol_cpu)
    if engine_gpu:
        out += [f"## Engine, GPU — {engine_gpu['machine']}, {gpu_name}, {engine_gpu['date'][:16]} UTC", "", f"Command: `benchmarks/gpu/prepare.sh`, then on the GPU machine `bash .device/device-run.sh bash .device/gpu-check.sh` (`{engine_gpu.get('command', '')}`).", "", engine_table(engine_gpu), ""]
    if torch_gpu:
        lines = ["| B | T | variant | median ms | min ms |", "|---|---|---|---|---|"] + [f"| {r['B']} | {r['T']} | {r['variant']} | {r['medianMs']} | {r['minMs']} |" for r in torch_gpu["results"]]
        out += [f"## PyTorch eager on the same card (PyTorch {torch_gpu['torch']}, same run)", "", "Command: `benchmarks/gpu/pytorch_reference.py` (same MLP, T folded with `x.repeat(T, 1)`, mean and variance copied to the host).", "", "\n".join(lines), ""]
    if load_gpu:
        out += [f"## Service under load, GPU — {load_gpu['machine']}, {load_gpu['date']}", "", f"Command: `{load_gpu['command']}`.", "", load_table(load_gpu), ""]
    out += [open(os.path.join(ROOT, "benchmarks", "report-notes.md")).read().rstrip(), ""]
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(out))
    print("wrote docs/benchmarks.md and docs/benchmarks.json")


main()
