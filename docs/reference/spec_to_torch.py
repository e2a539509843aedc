#!/usr/bin/env python3
"""Reference PyTorch reading of the service's network spec (see docs/layers.md).

    build(spec)                       -> torch.nn.ModuleList, named as the service names imported tensors
    forward(modules, x_flat, spec)    -> raw network outputs for flat rows [N, prod(inputShape)]
    mc_predict(modules, x_flat, spec) -> Monte Carlo dropout statistics over T passes

CLI:
    spec_to_torch.py SPEC.json --export OUT.safetensors [--seed 2016]

builds the network with torch.manual_seed(seed) and writes its state_dict() (BatchNorm running statistics
included) as safetensors. The safetensors format is written and read here by hand (an 8-byte little-endian
header length, a JSON header, then the raw little-endian tensor bytes), so only torch is needed; with the
safetensors package installed, safetensors.torch.save_file(modules.state_dict(), path) writes the same tensors.
"""

import argparse
import json
import math
import struct

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "leakyRelu": nn.LeakyReLU,
}
DROPOUTS = (nn.Dropout, nn.Dropout2d)


def make_layer(layer: dict, shape: list) -> nn.Module:
    """The PyTorch module for one spec layer; in_* sizes come from `shape`, the per-row shape entering it."""
    kind = layer["type"]
    if kind == "linear":
        return nn.Linear(shape[-1], layer["out"])
    if kind == "conv2d":
        return nn.Conv2d(shape[0], layer["out"], layer["kernel"], layer.get("stride", 1), layer.get("padding", 0))
    if kind == "maxPool2d":
        return nn.MaxPool2d(layer["kernel"], layer.get("stride", layer["kernel"]), layer.get("padding", 0))
    if kind == "avgPool2d":
        return nn.AvgPool2d(layer["kernel"], layer.get("stride", layer["kernel"]), layer.get("padding", 0))
    if kind == "adaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(layer["size"])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "batchNorm1d":
        return nn.BatchNorm1d(shape[0])
    if kind == "batchNorm2d":
        return nn.BatchNorm2d(shape[0])
    if kind == "layerNorm":
        return nn.LayerNorm(shape[-1])
    if kind in ACTIVATIONS:
        return ACTIVATIONS[kind]()
    if kind == "dropout":
        return nn.Dropout(layer["p"])
    if kind == "dropout2d":
        return nn.Dropout2d(layer["p"])
    raise ValueError(f"unknown layer type {kind!r}")


def build(spec: dict) -> nn.ModuleList:
    """One module per spec layer, in order (parameter-free layers too, so indices match the spec's positions)."""
    modules = nn.ModuleList()
    shape = list(spec["inputShape"])
    for layer in spec["layers"]:
        module = make_layer(layer, shape)
        modules.append(module)
        with torch.no_grad():  # the running shape: push two zero rows through the new module in eval mode
            shape = list(module.eval()(torch.zeros(2, *shape)).shape[1:])
    head = spec["head"]
    width = head["outputs"] * (2 if head["kind"] == "heteroscedasticRegression" else 1)
    if shape != [width]:
        raise ValueError(f"the last layer gives rows of shape {shape}; head {head['kind']} needs [{width}]")
    return modules.eval()


def forward(modules: nn.ModuleList, x_flat: torch.Tensor, spec: dict) -> torch.Tensor:
    """Raw outputs (logits; means then log-variances for heteroscedastic). Uses each module's current mode.

    dropoutKind "standard": every dropout output is multiplied by (1 - p). In train mode PyTorch's x * mask / (1 - p)
    becomes x * mask (no scaling while sampling); in eval mode the identity becomes x * (1 - p) (scaling at eval).
    """
    x = x_flat.view(x_flat.shape[0], *spec["inputShape"])
    standard = spec.get("dropoutKind", "inverted") == "standard"
    for module in modules:
        x = module(x)
        if standard and isinstance(module, DROPOUTS):
            x = x * (1 - module.p)
    return x


def set_mc_mode(modules: nn.ModuleList) -> None:
    """Eval everywhere (BatchNorm uses its running statistics), except dropout, which samples masks."""
    modules.eval()
    for module in modules:
        if isinstance(module, DROPOUTS):
            module.train()


def mc_samples(modules: nn.ModuleList, x_flat: torch.Tensor, spec: dict, samples: int, chunk: int = 1000) -> torch.Tensor:
    """[T, N, outputs] per-pass values: softmax probabilities for classification, raw outputs otherwise.

    Rows are repeated `chunk` times per forward call; every row of a batch draws its own masks, so this equals
    `chunk` separate passes (nothing mixes rows: BatchNorm is in eval mode).
    """
    set_mc_mode(modules)
    n = x_flat.shape[0]
    out = []
    try:
        with torch.no_grad():
            for start in range(0, samples, chunk):
                t = min(chunk, samples - start)
                y = forward(modules, x_flat.repeat(t, 1), spec).view(t, n, -1)
                if spec["head"]["kind"] == "classification":
                    y = torch.softmax(y, dim=-1)
                out.append(y)
    finally:
        modules.eval()
    return torch.cat(out)


def mc_predict(modules: nn.ModuleList, x_flat: torch.Tensor, spec: dict, samples: int = 1000) -> dict:
    """MC dropout statistics over `samples` passes, in float64; variances are population variances (divide by T).

    classification: mean and variance of the softmax probabilities.
    regression: mean and variance of the outputs.
    heteroscedasticRegression: mean and variance of the predicted means, plus the mean of exp(log-variance) (aleatoric).
    """
    y = mc_samples(modules, x_flat, spec, samples).double()
    if spec["head"]["kind"] == "heteroscedasticRegression":
        k = spec["head"]["outputs"]
        means, log_vars = y[..., :k], y[..., k:]
        return {"mean": means.mean(0), "variance": means.var(0, unbiased=False), "aleatoric": log_vars.exp().mean(0)}
    return {"mean": y.mean(0), "variance": y.var(0, unbiased=False)}


# --- safetensors, by hand --------------------------------------------------------------------------------

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}
TORCH_DTYPES = {name: dtype for dtype, name in DTYPES.items()}


def save_safetensors(tensors: dict, path: str) -> None:
    """Tensors sorted by name, contiguous, little-endian; header padded with spaces to a multiple of 8 bytes."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_safetensors(path: str) -> dict:
    """name -> tensor, for the dtypes above."""
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    body = raw[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = TORCH_DTYPES[entry["dtype"]]
        count = math.prod(entry["shape"])
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="network spec JSON (inputShape, layers, head, dropoutKind)")
    parser.add_argument("--export", required=True, metavar="OUT.safetensors")
    parser.add_argument("--seed", type=int, default=2016)
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    torch.manual_seed(args.seed)
    modules = build(spec)
    save_safetensors(modules.state_dict(), args.export)
    for name, tensor in modules.state_dict().items():
        print(f"{name}\t{list(tensor.shape)}\t{tensor.dtype}")


if __name__ == "__main__":
    main()
