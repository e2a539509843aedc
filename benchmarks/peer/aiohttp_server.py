# Copied from the workplace's shared/peers/ (unchanged): the Python peer the load test measures against.
"""Peer for the GPU comparison: a PyTorch MC-dropout server as a Python team would write it with the
packages the GPU machine has (aiohttp + torch). POST /predict {"inputs": [[...]], "samples": T}.
One request = one batched pass (T folded into the batch). Optional dynamic batching (--batch-ms > 0):
requests arriving within the window are merged into one forward pass.
Usage: python3 aiohttp_server.py --port 18300 --inf 64 --hid 1024 [--device cuda] [--batch-ms 2]"""
import argparse, asyncio, torch, torch.nn as nn
from aiohttp import web
ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=18300); ap.add_argument("--inf", type=int, default=64)
ap.add_argument("--hid", type=int, default=1024); ap.add_argument("--device", default="cpu")
ap.add_argument("--batch-ms", type=float, default=0.0); ap.add_argument("--threads", type=int, default=0)
a = ap.parse_args()
if a.threads: torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
model = nn.Sequential(nn.Linear(a.inf, a.hid), nn.ReLU(), nn.Dropout(0.1), nn.Linear(a.hid, a.hid), nn.ReLU(),
                      nn.Dropout(0.1), nn.Linear(a.hid, 1)).to(dev).train()

def run(xs, ts):
    # xs: list of [B_i, F] tensors, ts: list of T_i; returns per-request (mean, var) lists
    with torch.no_grad():
        big = torch.cat([x.repeat(t, 1) for x, t in zip(xs, ts)]).to(dev, non_blocking=True)
        y = model(big)
        out, o = [], 0
        for x, t in zip(xs, ts):
            n = t * x.shape[0]; yi = y[o:o + n].view(t, x.shape[0], -1); o += n
            out.append((yi.mean(0), yi.var(0)))
        flat = torch.cat([torch.stack([m, v]).reshape(-1) for m, v in out]).cpu()
    res, o = [], 0
    for x, t in zip(xs, ts):
        k = 2 * x.shape[0]; mv = flat[o:o + k].view(2, x.shape[0]).tolist(); o += k
        res.append([{"mean": [mv[0][i]], "epistemicVariance": [mv[1][i]]} for i in range(x.shape[0])])
    return res

queue: "asyncio.Queue" = None
async def batcher():
    while True:
        items = [await queue.get()]
        if a.batch_ms > 0:
            deadline = asyncio.get_running_loop().time() + a.batch_ms / 1000
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0: break
                try: items.append(await asyncio.wait_for(queue.get(), left))
                except asyncio.TimeoutError: break
        res = run([x for x, _, _ in items], [t for _, t, _ in items])
        for (_, _, fut), r in zip(items, res): fut.set_result(r)

async def predict(req):
    body = await req.json()
    x = torch.tensor(body["inputs"], dtype=torch.float32)
    fut = asyncio.get_running_loop().create_future()
    await queue.put((x, int(body.get("samples", 100)), fut))
    return web.json_response({"predictions": await fut})

async def start(app):
    global queue; queue = asyncio.Queue(); app["b"] = asyncio.create_task(batcher())
app = web.Application(); app.router.add_post("/predict", predict); app.on_startup.append(start)
web.run_app(app, host="127.0.0.1", port=a.port, print=None, access_log=None)
