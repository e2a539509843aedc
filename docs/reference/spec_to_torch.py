#!/usr/bin/env python3
"""Reference PyTorch reading of the service's network spec (see docs/layers.md).

    build(spec)                                -> torch.nn.ModuleList, named as the service names imported tensors
    forward(modules, x_flat, spec)             -> raw network outputs for flat rows [N, prod(inputShape)]
    forward_unpadded(modules, x_flat, spec)    -> the same, each row run alone, truncated to its valid length,
                                                  through PyTorch's own nn.Embedding / nn.LSTM / nn.GRU /
                                                  nn.TransformerEncoder (eval): the ground truth for padding
    mc_samples(modules, x_flat, spec, samples) -> [T, N, outputs] per-pass values (softmax for classification)
    mc_predict(modules, x_flat, spec)          -> Monte Carlo dropout statistics over T passes
    save_safetensors(tensors, path), load_safetensors(path)

Sequences: a spec containing a sequence layer (embedding, positionalEmbedding, sinusoidalPosition, lstm, gru,
transformerEncoder, meanPool, lastStep, firstStep, clsToken) reads inputShape [L] as token ids (floats in the
flat row, 0 = padding) and [L, F] as L numeric steps (a padding step is all NaN). Activations are [N, L, D]
with a per-step validity mask beside them; the pooling layers turn them into [N, D]. The sequence modules
subclass nn.Embedding, nn.LSTM, nn.GRU and nn.TransformerEncoder, so their state_dict names are PyTorch's
(`{i}.weight`, `{i}.weight_ih_l0`, `{i}.layers.0.self_attn.in_proj_weight`, ...); their forward is written here
(padding masks, variational / word / attention dropout with torch.bernoulli masks) and samples masks when the
module is in train mode, which set_mc_mode gives every module that has a dropout rate.

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
SEQUENCE_TYPES = {
    "embedding", "positionalEmbedding", "sinusoidalPosition", "lstm", "gru", "transformerEncoder",
    "meanPool", "lastStep", "firstStep", "clsToken",
}


# --- sequence layers --------------------------------------------------------------------------------------
#
# Each takes and returns (x, valid): x [N, L, D] (token ids [N, L] before the embedding), valid [N, L] bool.
# The pooling layers return (x [N, D], None). Every mask is inverted dropout: kept units scaled by 1/(1-p).


def keep_mask(shape, p: float, like: torch.Tensor) -> torch.Tensor:
    """Bernoulli(1-p) keep mask already scaled by 1/(1-p); ones when p == 0."""
    if p <= 0:
        return torch.ones(shape, dtype=like.dtype, device=like.device)
    if p >= 1:
        return torch.zeros(shape, dtype=like.dtype, device=like.device)
    return torch.bernoulli(torch.full(shape, 1 - p, dtype=like.dtype, device=like.device)) / (1 - p)


def sinusoid(length: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(t / 10000^(2i/D)); [length, dim]."""
    t = torch.arange(length, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)
    angle = t / torch.pow(10000.0, two_i / dim)
    pe = torch.zeros(length, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.to(like.dtype)


class SequenceLayer(nn.Module):
    """Marker: forward(x, valid) -> (x, valid)."""

    def dropout_rates(self) -> list:
        return []


class Embedding(nn.Embedding, SequenceLayer):
    """nn.Embedding(vocab, dim); 0 at padded positions; word dropout: one keep/drop per (sequence, token id)."""

    def __init__(self, vocab: int, dim: int, word_dropout: float = 0.0):
        super().__init__(vocab, dim)
        self.word_dropout = word_dropout

    def dropout_rates(self):
        return [self.word_dropout]

    def forward(self, ids, valid):
        ids = ids.long()
        x = self.weight[ids] * valid[..., None].to(self.weight.dtype)
        if self.training and self.word_dropout > 0:
            per_type = keep_mask((ids.shape[0], self.num_embeddings), self.word_dropout, x)  # [N, vocab]
            x = x * per_type.gather(1, ids)[..., None]
        return x, valid


class PositionalEmbedding(nn.Embedding, SequenceLayer):
    """x + weight[t], an nn.Embedding(maxLength, D)."""

    def forward(self, x, valid):
        return x + self.weight[: x.shape[1]], valid


class SinusoidalPosition(SequenceLayer):
    def forward(self, x, valid):
        return x + sinusoid(x.shape[1], x.shape[2], x), valid


class Recurrent(SequenceLayer):
    """Variational (Gal & Ghahramani 2016) LSTM/GRU forward over nn.LSTM / nn.GRU parameters.

    Per stack layer k: an input mask over its input units (rate inputDropout) on x_t, and a recurrent mask over
    hidden units (rate recurrentDropout) on h_{t-1} where it enters h W_hh^T; one draw per sequence, the same at
    every step (naive: a fresh draw per step). c and the carried h are never masked. At a padded step (h, c) is
    carried and the step's output is 0. outputDropout masks the returned vector, or every step of "all" (one mask
    for all steps; naive: one per step).
    """

    def configure(self, layer: dict):
        self.input_dropout = layer.get("inputDropout", 0.0)
        self.recurrent_dropout = layer.get("recurrentDropout", 0.0)
        self.output_dropout = layer.get("outputDropout", 0.0)
        self.returns = layer.get("return", "last")
        self.naive = bool(layer.get("naive", False))
        if self.returns not in ("last", "all"):
            raise ValueError(f"return must be 'last' or 'all', not {self.returns!r}")

    def dropout_rates(self):
        return [self.input_dropout, self.recurrent_dropout, self.output_dropout]

    def cell(self, x_proj, h_proj, h, c):
        """(h', c') from x_t W_ih^T + b_ih, (masked h_{t-1}) W_hh^T + b_hh and the unmasked (h, c); c' None for GRU."""
        raise NotImplementedError

    def forward(self, x, valid):
        n, length, _ = x.shape
        sampling = self.training
        inp, h = x, None
        for k in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")
            h = x.new_zeros(n, self.hidden_size)
            c = x.new_zeros(n, self.hidden_size)
            if sampling and not self.naive:
                in_mask = keep_mask((n, inp.shape[-1]), self.input_dropout, x)
                rec_mask = keep_mask((n, self.hidden_size), self.recurrent_dropout, x)
            outs = []
            for t in range(length):
                xt = inp[:, t]
                h_in = h
                if sampling:
                    if self.naive:
                        in_mask = keep_mask((n, inp.shape[-1]), self.input_dropout, x)
                        rec_mask = keep_mask((n, self.hidden_size), self.recurrent_dropout, x)
                    xt = xt * in_mask
                    h_in = h * rec_mask
                h_new, c_new = self.cell(xt @ w_ih.T + b_ih, h_in @ w_hh.T + b_hh, h, c)
                v = valid[:, t, None]
                h = torch.where(v, h_new, h)
                if c_new is not None:
                    c = torch.where(v, c_new, c)
                outs.append(h_new * v.to(x.dtype))
            inp = torch.stack(outs, 1)
        if self.returns == "last":
            y = h
            if sampling:
                y = y * keep_mask((n, self.hidden_size), self.output_dropout, x)
            return y, None
        if sampling:
            if self.naive:
                inp = inp * keep_mask((n, length, self.hidden_size), self.output_dropout, x)
            else:
                inp = inp * keep_mask((n, 1, self.hidden_size), self.output_dropout, x)
        return inp, valid


class LSTM(nn.LSTM, Recurrent):
    def __init__(self, layer: dict, in_features: int):
        super().__init__(in_features, layer["hidden"], num_layers=layer.get("layers", 1), batch_first=True)
        self.configure(layer)

    forward = Recurrent.forward

    def cell(self, x_proj, h_proj, h, c):
        i, f, g, o = (x_proj + h_proj).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class GRU(nn.GRU, Recurrent):
    def __init__(self, layer: dict, in_features: int):
        super().__init__(in_features, layer["hidden"], num_layers=layer.get("layers", 1), batch_first=True)
        self.configure(layer)

    forward = Recurrent.forward

    def cell(self, x_proj, h_proj, h, c):
        xr, xz, xn = x_proj.chunk(3, 1)
        hr, hz, hn = h_proj.chunk(3, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * h, None


class TransformerEncoder(nn.TransformerEncoder, SequenceLayer):
    """nn.TransformerEncoder(nn.TransformerEncoderLayer(..., batch_first=True), layers), no final norm.

    The forward here re-implements PyTorch's from the same weights, with the dropout sites where PyTorch puts
    them (attention weights after the softmax, not renormalised; after the feed-forward activation; before each
    residual add), each an element-wise torch.bernoulli mask, and padded keys masked with -inf.
    """

    def __init__(self, layer: dict, in_features: int):
        d_model = layer["dModel"]
        if d_model != in_features:
            raise ValueError(f"transformerEncoder dModel {d_model} but the steps have {in_features} features")
        encoder_layer = nn.TransformerEncoderLayer(
            d_model, layer["heads"], layer["ffn"], layer.get("dropout", 0.0), layer.get("activation", "relu"),
            layer_norm_eps=1e-5, batch_first=True, norm_first=layer.get("normFirst", False))
        encoder_layer.self_attn.dropout = layer.get("attentionDropout", 0.0)  # only PyTorch's train mode reads these
        super().__init__(encoder_layer, layer["layers"], enable_nested_tensor=False)
        self.dropout_p = layer.get("dropout", 0.0)
        self.attention_dropout = layer.get("attentionDropout", 0.0)
        self.norm_first = layer.get("normFirst", False)
        self.gelu = layer.get("activation", "relu") == "gelu"
        self.heads = layer["heads"]

    def dropout_rates(self):
        return [self.dropout_p, self.attention_dropout]

    def attention(self, block, x, padded, sampling):
        n, length, d = x.shape
        heads, hd = self.heads, d // self.heads
        attn = block.self_attn
        q, k, v = (x @ attn.in_proj_weight.T + attn.in_proj_bias).chunk(3, -1)
        q, k, v = (t.reshape(n, length, heads, hd).transpose(1, 2) for t in (q, k, v))  # [N, heads, L, hd]
        scores = (q / math.sqrt(hd)) @ k.transpose(-2, -1)
        scores = scores.masked_fill(padded[:, None, None, :], float("-inf"))
        weights = torch.softmax(scores, -1)
        if sampling:
            weights = weights * keep_mask(weights.shape, self.attention_dropout, x)
        out = (weights @ v).transpose(1, 2).reshape(n, length, d)
        return attn.out_proj(out)

    def feed_forward(self, block, x, sampling):
        hidden = block.linear1(x)
        hidden = nn.functional.gelu(hidden) if self.gelu else torch.relu(hidden)
        if sampling:
            hidden = hidden * keep_mask(hidden.shape, self.dropout_p, x)
        return block.linear2(hidden)

    def forward(self, x, valid):
        sampling = self.training
        padded = ~valid

        def drop(y):
            return y * keep_mask(y.shape, self.dropout_p, y) if sampling else y

        for block in self.layers:
            if self.norm_first:
                x = x + drop(self.attention(block, block.norm1(x), padded, sampling))
                x = x + drop(self.feed_forward(block, block.norm2(x), sampling))
            else:
                x = block.norm1(x + drop(self.attention(block, x, padded, sampling)))
                x = block.norm2(x + drop(self.feed_forward(block, x, sampling)))
        return x, valid


class MeanPool(SequenceLayer):
    def forward(self, x, valid):
        w = valid[..., None].to(x.dtype)
        return (x * w).sum(1) / w.sum(1).clamp(min=1), None


class LastStep(SequenceLayer):
    def forward(self, x, valid):
        length = x.shape[1]
        last = length - 1 - valid.flip(1).to(torch.int64).argmax(1)  # the last valid index (0 if none)
        return x[torch.arange(x.shape[0]), last], None


class FirstStep(SequenceLayer):
    def forward(self, x, valid):
        return x[:, 0], None


class ClsToken(SequenceLayer):
    """Prepends a learned vector `weight` [D] as step 0, always valid: [L, D] -> [L+1, D]."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim))

    def forward(self, x, valid):
        cls = self.weight.expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], 1), torch.cat([valid.new_ones(x.shape[0], 1), valid], 1)


def is_sequence_spec(spec: dict) -> bool:
    return any(layer["type"] in SEQUENCE_TYPES for layer in spec["layers"])


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
    if kind == "embedding":
        if len(shape) != 1:
            raise ValueError(f"embedding needs token ids of shape [L], not {shape}")
        return Embedding(layer["vocab"], layer["dim"], layer.get("wordDropout", 0.0))
    if kind in ("positionalEmbedding", "sinusoidalPosition", "lstm", "gru", "transformerEncoder",
                "meanPool", "lastStep", "firstStep", "clsToken") and len(shape) != 2:
        raise ValueError(f"{kind} needs a sequence [L, D], not {shape}")
    if kind == "positionalEmbedding":
        if shape[0] > layer["maxLength"]:
            raise ValueError(f"positionalEmbedding maxLength {layer['maxLength']} < sequence length {shape[0]}")
        return PositionalEmbedding(layer["maxLength"], shape[1])
    if kind == "sinusoidalPosition":
        return SinusoidalPosition()
    if kind == "lstm":
        return LSTM(layer, shape[1])
    if kind == "gru":
        return GRU(layer, shape[1])
    if kind == "transformerEncoder":
        return TransformerEncoder(layer, shape[1])
    if kind == "meanPool":
        return MeanPool()
    if kind == "lastStep":
        return LastStep()
    if kind == "firstStep":
        return FirstStep()
    if kind == "clsToken":
        return ClsToken(shape[1])
    raise ValueError(f"unknown layer type {kind!r}")


def prepare_input(x_flat: torch.Tensor, spec: dict):
    """(x [N, *inputShape], valid [N, L] or None). Token ids: valid = id != 0. Numeric steps [L, F]: valid =
    every value of the step finite; invalid steps are zeroed so nothing NaN reaches a layer."""
    x = x_flat.view(x_flat.shape[0], *spec["inputShape"])
    if not is_sequence_spec(spec):
        return x, None
    if x.dim() == 2:
        return x, x != 0
    valid = torch.isfinite(x).all(-1)
    return x.masked_fill(~valid[..., None], 0.0), valid


def apply(module: nn.Module, x: torch.Tensor, valid, standard: bool = False):
    if isinstance(module, SequenceLayer):
        return module(x, valid)
    x = module(x)
    if standard and isinstance(module, DROPOUTS):
        x = x * (1 - module.p)
    return x, valid


def build(spec: dict) -> nn.ModuleList:
    """One module per spec layer, in order (parameter-free layers too, so indices match the spec's positions)."""
    modules = nn.ModuleList()
    standard = spec.get("dropoutKind", "inverted") == "standard"
    # the running shape: push two rows of ones (token id 1, finite steps) through each new module in eval mode
    x, valid = prepare_input(torch.ones(2, *spec["inputShape"]).view(2, -1), spec)
    for layer in spec["layers"]:
        module = make_layer(layer, list(x.shape[1:]))
        if standard and isinstance(module, SequenceLayer) and any(p > 0 for p in module.dropout_rates()):
            raise ValueError(f"{layer['type']}: dropoutKind 'standard' is not defined for sequence layers' dropout")
        modules.append(module)
        with torch.no_grad():
            x, valid = apply(module.eval(), x, valid)
    shape = list(x.shape[1:])
    head = spec["head"]
    width = head["outputs"] * (2 if head["kind"] == "heteroscedasticRegression" else 1)
    if shape != [width]:
        raise ValueError(f"the last layer gives rows of shape {shape}; head {head['kind']} needs [{width}]")
    return modules.eval()


def forward(modules: nn.ModuleList, x_flat: torch.Tensor, spec: dict) -> torch.Tensor:
    """Raw outputs (logits; means then log-variances for heteroscedastic). Uses each module's current mode.

    dropoutKind "standard": every dropout output is multiplied by (1 - p). In train mode PyTorch's x * mask / (1 - p)
    becomes x * mask (no scaling while sampling); in eval mode the identity becomes x * (1 - p) (scaling at eval).
    Sequence modules sample their masks in train mode and use none in eval mode.
    """
    x, valid = prepare_input(x_flat, spec)
    standard = spec.get("dropoutKind", "inverted") == "standard"
    for module in modules:
        x, valid = apply(module, x, valid, standard)
    return x


def forward_unpadded(modules: nn.ModuleList, x_flat: torch.Tensor, spec: dict) -> torch.Tensor:
    """Deterministic outputs with each row run alone (a batch of one), truncated to its valid steps, through
    PyTorch's own modules in eval mode (nn.Embedding, nn.LSTM, nn.GRU, nn.TransformerEncoder); the pooling then
    sees only valid steps. No padding reaches any module, so this is the ground truth for padded batches."""
    if not is_sequence_spec(spec):
        with torch.no_grad():
            return forward(modules.eval(), x_flat, spec)
    modules.eval()
    standard = spec.get("dropoutKind", "inverted") == "standard"
    x_all, valid_all = prepare_input(x_flat, spec)
    rows = []
    with torch.no_grad():
        for x, valid in zip(x_all, valid_all):
            length = int(valid.sum())
            if not bool(valid[:length].all()):
                raise ValueError("padding must be trailing to truncate a row")
            x = x[None, :length]
            for module in modules:
                if isinstance(module, Embedding):
                    x = nn.Embedding.forward(module, x.long())
                elif isinstance(module, PositionalEmbedding):
                    x = x + module.weight[: x.shape[1]]
                elif isinstance(module, SinusoidalPosition):
                    x = x + sinusoid(x.shape[1], x.shape[2], x)
                elif isinstance(module, (LSTM, GRU)):
                    out, _ = (nn.LSTM if isinstance(module, LSTM) else nn.GRU).forward(module, x)
                    x = out[:, -1] if module.returns == "last" else out
                elif isinstance(module, TransformerEncoder):
                    # grad enabled (parameters require grad): PyTorch's layer-by-layer path, not the fused eval
                    # kernel that no_grad selects (that one rounds differently, ~1e-6)
                    with torch.enable_grad():
                        x = nn.TransformerEncoder.forward(module, x).detach()
                elif isinstance(module, MeanPool):
                    x = x.mean(1)
                elif isinstance(module, LastStep):
                    x = x[:, -1]
                elif isinstance(module, FirstStep):
                    x = x[:, 0]
                elif isinstance(module, ClsToken):
                    x = torch.cat([module.weight.expand(1, 1, -1), x], 1)
                else:
                    x = apply(module, x, None, standard)[0]
            rows.append(x[0])
    return torch.stack(rows)


def samples_masks(module: nn.Module) -> bool:
    return isinstance(module, DROPOUTS) or (
        isinstance(module, SequenceLayer) and any(p > 0 for p in module.dropout_rates()))


def set_mc_mode(modules: nn.ModuleList) -> None:
    """Eval everywhere (BatchNorm uses its running statistics), except dropout and the sequence layers with a
    dropout rate, which sample masks."""
    modules.eval()
    for module in modules:
        if samples_masks(module):
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
