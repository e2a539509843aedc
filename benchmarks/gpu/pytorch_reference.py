"""The engine benchmark's computation in PyTorch eager, for ratios measured on the same card in the same run:
MLP 64-1024-1024-1, ReLU, dropout 0.1 after each hidden layer, T stochastic passes folded into one batch
(x.repeat(T, 1)), mean and variance over the T samples copied to the host. Precisions: fp32, tf32, bf16 autocast;
plus a loop of T single passes. Prints one JSON document.
Usage: python3 pytorch_reference.py [--seconds 0.6] [--device cuda]"""
import argparse, json, statistics, time
import torch, torch.nn as nn

ap = argparse.ArgumentParser(); ap.add_argument("--seconds", type=float, default=0.6); ap.add_argument("--device", default="cuda")
a = ap.parse_args()
dev = torch.device(a.device)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Dropout(0.1), nn.Linear(1024, 1024), nn.ReLU(),
                      nn.Dropout(0.1), nn.Linear(1024, 1)).to(dev).train()

def sync():
    if dev.type == "cuda": torch.cuda.synchronize()

def measure(fn):
    end = time.perf_counter() + a.seconds / 4
    for _ in range(3): fn()
    while time.perf_counter() < end: fn()
    sync(); times = []; end = time.perf_counter() + a.seconds
    while len(times) < 5 or (len(times) < 200 and time.perf_counter() < end):
        t0 = time.perf_counter(); fn(); sync(); times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3), round(min(times), 3)

def batched(x, t, precision):
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        y = model(x.repeat(t, 1)).float().view(t, x.shape[0], -1)
        v, m = torch.var_mean(y, 0)
        return m.cpu(), v.cpu()

def loop(x, t):
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        y = torch.stack([model(x) for _ in range(t)])
        v, m = torch.var_mean(y, 0)
        return m.cpu(), v.cpu()

results = []
for b, t in [(1, 100), (32, 100), (256, 100), (1024, 100), (1, 1000), (32, 1000), (256, 1000), (1024, 1000)]:
    x = torch.rand(b, 64, device=dev)
    for precision in ["fp32", "tf32", "bf16"]:
        med, mn = measure(lambda: batched(x, t, precision))
        results.append({"B": b, "T": t, "variant": f"batched {precision}", "medianMs": med, "minMs": mn})
    if t == 100:
        med, mn = measure(lambda: loop(x, t))
        results.append({"B": b, "T": t, "variant": "loop of T passes fp32", "medianMs": med, "minMs": mn})
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "results": results}))
