#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of the sequence layers (run with the python that has torch: /usr/bin/python3).

    lstm-*                 numeric steps [7, 3] -> 2-layer LSTM (variational input/recurrent/output dropout), last
                           state -> linear 2; regression. Its reference also has "naiveMc": the same statistics with
                           a fresh mask per time step, so a test can tell variational from naive masks.
    gru-text-*             token ids [9] -> embedding with word dropout -> GRU (all steps) -> meanPool -> linear 3;
                           classification
    transformer-*          token ids [8] -> embedding -> positionalEmbedding -> 2 post-norm GELU encoder layers ->
                           meanPool -> dropout -> linear 2; classification
    transformer-prenorm-*  numeric steps [6, 4] -> linear 16 -> sinusoidalPosition -> clsToken -> 1 pre-norm ReLU
                           encoder layer -> firstStep -> linear 1; regression

Each is {name}-spec.json, {name}.safetensors (state_dict names of the ModuleList) and {name}-reference.json with
the inputs (padded steps written as 0.0, token padding is id 0), "lengths" (valid steps per row), the deterministic
outputs of each row run alone, truncated to its length, through PyTorch's own modules, and the MC dropout statistics
computed as make_reference.py computes them. Before any file is written the script asserts that the padded, batched
forward equals the truncated ground truth, that the sampling forward with every rate 0 equals it too, and that the
variational masks are what the contract says (constant over steps, one word-dropout draw per token type).

Everything is seeded, so a rerun with the same torch build rewrites the same files.
"""

import copy
import math
import os
import sys

import torch
from torch import nn

sys.dont_write_bytecode = True  # no __pycache__ beside docs/reference or here

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_reference as base  # noqa: E402  (also puts docs/reference on the path)
import spec_to_torch as ref  # noqa: E402

INIT_SEED = base.INIT_SEED    # 2016: torch.manual_seed before build(), then the fixture's weight adjustments
INPUT_SEED = base.INPUT_SEED  # 11: the 6 input rows
MC_SEED = base.MC_SEED        # 12345: the dropout masks of the MC statistics (the naive block reseeds too)
ROWS = base.ROWS
SAMPLES = base.SAMPLES
ATTENTION_SCALE = 2.0         # see adjust_weights
CHECK_SEED = 99               # the self-checks' own masks and crafted weights

LSTM_SPEC = {
    "inputShape": [7, 3],
    "layers": [
        {"type": "lstm", "hidden": 8, "layers": 2, "inputDropout": 0.2, "recurrentDropout": 0.3,
         "outputDropout": 0.1, "return": "last"},
        {"type": "linear", "out": 2},
    ],
    "head": {"kind": "regression", "outputs": 2},
    "dropoutKind": "inverted",
}

GRU_TEXT_SPEC = {
    "inputShape": [9],
    "layers": [
        {"type": "embedding", "vocab": 30, "dim": 6, "wordDropout": 0.1},
        {"type": "gru", "hidden": 8, "inputDropout": 0.1, "recurrentDropout": 0.25, "return": "all"},
        {"type": "meanPool"},
        {"type": "linear", "out": 3},
    ],
    "head": {"kind": "classification", "outputs": 3},
    "dropoutKind": "inverted",
}

TRANSFORMER_SPEC = {
    "inputShape": [8],
    "layers": [
        {"type": "embedding", "vocab": 40, "dim": 16},
        {"type": "positionalEmbedding", "maxLength": 10},
        {"type": "transformerEncoder", "dModel": 16, "heads": 2, "ffn": 32, "layers": 2, "dropout": 0.1,
         "attentionDropout": 0.1, "normFirst": False, "activation": "gelu"},
        {"type": "meanPool"},
        {"type": "dropout", "p": 0.1},
        {"type": "linear", "out": 2},
    ],
    "head": {"kind": "classification", "outputs": 2},
    "dropoutKind": "inverted",
}

TRANSFORMER_PRENORM_SPEC = {
    "inputShape": [6, 4],
    "layers": [
        {"type": "linear", "out": 16},
        {"type": "sinusoidalPosition"},
        {"type": "clsToken"},
        {"type": "transformerEncoder", "dModel": 16, "heads": 4, "ffn": 24, "layers": 1, "dropout": 0.2,
         "attentionDropout": 0.15, "normFirst": True, "activation": "relu"},
        {"type": "firstStep"},
        {"type": "linear", "out": 1},
    ],
    "head": {"kind": "regression", "outputs": 1},
    "dropoutKind": "inverted",
}

RATE_FIELDS = ("wordDropout", "inputDropout", "recurrentDropout", "outputDropout", "dropout", "attentionDropout", "p")


# --- weights --------------------------------------------------------------------------------------------------


def adjust_weights(modules, recurrent_scale):
    """Fixture weights, drawn from the global generator right after build() (so seeded by INIT_SEED):

    - LSTM/GRU: every weight and bias multiplied by `recurrent_scale`, so the gates leave their linear range and
      the masks visibly move the outputs (PyTorch's U(-1/sqrt(hidden), 1/sqrt(hidden)) is small for hidden 8);
    - transformer: nn.TransformerEncoder deep-copies one layer, so every layer starts identical; each layer is
      re-initialised with PyTorch's own initialisers (attention, linear1, linear2), its zero attention biases get
      N(0, 0.1^2) values and its LayerNorms weight 1 + N(0, 0.2^2), bias N(0, 0.2^2), so a name mix-up (layer k,
      norm1/norm2, q/k/v rows) changes the outputs; then in_proj_weight and out_proj.weight are multiplied by
      ATTENTION_SCALE, so the attention is uneven enough that its dropout (not renormalised) moves the outputs.
    """
    with torch.no_grad():
        for module in modules:
            if isinstance(module, ref.Recurrent):
                for p in module.parameters():
                    p.mul_(recurrent_scale)
            if isinstance(module, ref.TransformerEncoder):
                for block in module.layers:
                    block.self_attn._reset_parameters()
                    block.linear1.reset_parameters()
                    block.linear2.reset_parameters()
                    block.self_attn.in_proj_bias.normal_(0, 0.1)
                    block.self_attn.out_proj.bias.normal_(0, 0.1)
                    for norm in (block.norm1, block.norm2):
                        norm.weight.copy_(1 + 0.2 * torch.randn_like(norm.weight))
                        norm.bias.normal_(0, 0.2)
                    block.self_attn.in_proj_weight.mul_(ATTENTION_SCALE)
                    block.self_attn.out_proj.weight.mul_(ATTENTION_SCALE)


# --- inputs ---------------------------------------------------------------------------------------------------


def make_inputs(spec, lengths, generator, vocab=None, pool=5):
    """(service rows with NaN padding, JSON rows with 0.0 padding), both [ROWS, prod(inputShape)].

    Token rows draw their ids from a per-row pool of `pool` ids in [1, vocab - 1], so ids repeat within a row.
    """
    shape = spec["inputShape"]
    length = shape[0]
    if len(shape) == 1:
        rows = torch.zeros(ROWS, length)
        for r, n in enumerate(lengths):
            ids = torch.randint(1, vocab, (pool,), generator=generator)
            rows[r, :n] = ids[torch.randint(0, pool, (n,), generator=generator)].float()
        return rows, rows.clone()
    steps = torch.randn(ROWS, *shape, generator=generator)
    padded = torch.arange(length)[None, :] >= torch.tensor(lengths)[:, None]  # [ROWS, L]
    service = steps.masked_fill(padded[..., None], float("nan")).view(ROWS, -1)
    written = steps.masked_fill(padded[..., None], 0.0).view(ROWS, -1)
    return service, written


# --- statistics -----------------------------------------------------------------------------------------------


def mc_block(y, statistic):
    """make_reference.py's statistics of y [T, rows, outputs] (float64)."""
    mean = y.mean(0)
    variance = y.var(0, unbiased=False)
    m4 = ((y - mean) ** 4).mean(0)
    return {
        "samples": y.shape[0],
        "statistic": statistic,
        "mean": base.as_list(mean),
        "variance": base.as_list(variance),
        "meanStandardError": base.as_list((variance / y.shape[0]).sqrt()),
        "varianceStandardError": base.as_list(((m4 - variance ** 2).clamp(min=0) / y.shape[0]).sqrt()),
    }


def sample(modules, inputs, spec):
    torch.manual_seed(MC_SEED)
    return ref.mc_samples(modules, inputs, spec, SAMPLES).double()


def with_rates(spec, value=None, **changes):
    """A copy of spec with every dropout rate set to `value` (None: unchanged), then `changes` on every layer
    that has those fields."""
    spec = copy.deepcopy(spec)
    for layer in spec["layers"]:
        for field in RATE_FIELDS:
            if field in layer and value is not None:
                layer[field] = value
        for field, v in changes.items():
            if layer["type"] in ("lstm", "gru"):
                layer[field] = v
    return spec


def rebuild(spec, modules):
    """spec's modules carrying `modules`' weights (same names and shapes)."""
    torch.manual_seed(INIT_SEED)
    other = ref.build(spec)
    other.load_state_dict(modules.state_dict())
    return other.eval()


# --- self-checks (assertions) ---------------------------------------------------------------------------------

RESULTS = {}


def record(name, value, limit):
    RESULTS[name] = value
    assert value <= limit, f"{name}: {value} > {limit}"


def check_padding(name, spec, modules, inputs):
    """The padded batched forward (deterministic, and sampling with every rate 0) equals the truncated ground truth;
    for transformers, the encoder module alone equals PyTorch's module within 1e-6."""
    truth = ref.forward_unpadded(modules, inputs, spec)
    with torch.no_grad():
        batched = ref.forward(modules.eval(), inputs, spec)
    record(f"{name}: padded batch vs truncated rows (torch modules)", (batched - truth).abs().max().item(), 1e-5)

    zero = rebuild(with_rates(spec, 0.0), modules)
    ref.set_mc_mode(zero)
    for module in zero:  # sample with every rate 0: the sampling code path, all masks ones
        if isinstance(module, ref.SequenceLayer) or isinstance(module, ref.DROPOUTS):
            module.train()
    with torch.no_grad():
        sampled = ref.forward(zero, inputs, spec)
    zero.eval()
    record(f"{name}: sampling path with rates 0 vs truncated rows", (sampled - truth).abs().max().item(), 1e-5)

    for position, module in enumerate(modules):
        if not isinstance(module, ref.TransformerEncoder):
            continue
        x, valid = ref.prepare_input(inputs, spec)
        with torch.no_grad():
            for earlier in modules[:position]:
                x, valid = ref.apply(earlier, x, valid)
            ours, _ = module(x, valid)
        worst = 0.0
        for r in range(ROWS):
            n = int(valid[r].sum())
            with torch.enable_grad():  # PyTorch's layer-by-layer path
                theirs = nn.TransformerEncoder.forward(module, x[r:r + 1, :n]).detach()
            worst = max(worst, (ours[r, :n] - theirs[0]).abs().max().item())
        record(f"{name}: own transformer forward (p = 0) vs nn.TransformerEncoder, valid steps", worst, 1e-6)
        with torch.no_grad():  # for information: PyTorch's fused eval kernel, with its own padding handling
            fused = nn.TransformerEncoder.forward(module, x, src_key_padding_mask=~valid)
        RESULTS[f"{name}: (info) own vs torch fused eval path with src_key_padding_mask, valid steps"] = (
            ((ours - fused).abs() * valid[..., None]).max().item())
    return truth


def crafted_recurrent(kind, naive, rate_field):
    """A 1-layer LSTM/GRU whose hidden units, once zeroed, stay zero: identity recurrence through the candidate
    (g / n), forget gate closed (LSTM) or update gate z = 0 (GRU), input and output gates open."""
    hidden = 6
    layer = {"type": kind, "hidden": hidden, "return": "all", "naive": naive, rate_field: 0.5}
    module = (ref.LSTM if kind == "lstm" else ref.GRU)(layer, 3)
    big = 30.0
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        eye = torch.eye(hidden)
        if kind == "lstm":  # gates i, f, g, o
            module.bias_ih_l0[0 * hidden:1 * hidden] = big    # i = 1
            module.bias_ih_l0[1 * hidden:2 * hidden] = -big   # f = 0
            module.bias_ih_l0[3 * hidden:4 * hidden] = big    # o = 1
            module.weight_hh_l0[2 * hidden:3 * hidden] = 3 * eye
            module.weight_ih_l0[2 * hidden:3 * hidden] = 3.0
        else:  # gates r, z, n
            module.bias_ih_l0[0 * hidden:1 * hidden] = big    # r = 1
            module.bias_ih_l0[1 * hidden:2 * hidden] = -big   # z = 0
            module.weight_hh_l0[2 * hidden:3 * hidden] = 3 * eye
            module.weight_ih_l0[2 * hidden:3 * hidden] = 3.0
    return module.train()


def check_masks():
    torch.manual_seed(CHECK_SEED)
    n, length = 400, 7
    valid = torch.ones(n, length, dtype=torch.bool)
    for kind in ("lstm", "gru"):
        # recurrentDropout only: x_1 = 1 sets every unit to about tanh(3) > 0, then x_t = 0: a unit survives step t
        # only if the recurrent mask keeps it, so the zero pattern of steps 2.. is the mask itself
        x = torch.zeros(n, length, 3)
        x[:, 0] = 1.0
        for naive in (False, True):
            with torch.no_grad():
                h, _ = crafted_recurrent(kind, naive, "recurrentDropout")(x, valid)
            alive = h.abs() > 1e-3  # [n, L, hidden]
            assert bool(alive[:, 0].all()), "step 1 is unmasked input: every unit alive"
            constant = bool((alive[:, 1:] == alive[:, 1:2]).all())
            if naive:
                assert not constant, f"{kind} naive: masks should change from step to step"
            else:
                assert constant, f"{kind} variational: the recurrent mask must be the same at every step"
                kept = alive[:, 1].float().mean().item()
                assert abs(kept - 0.5) < 0.05, kept
        RESULTS[f"{kind} recurrentDropout 0.5, crafted: zero pattern constant over steps 2..7 (variational)"] = True
        # inputDropout only: the same x_t at every step and no memory (W_hh = 0 here): identical outputs at every step
        x = torch.randn(n, 1, 3).expand(n, length, 3).contiguous()
        for naive in (False, True):
            module = crafted_recurrent(kind, naive, "inputDropout")
            with torch.no_grad():
                module.weight_hh_l0.zero_()
                module.weight_ih_l0.normal_()
                h, _ = module(x, valid)
            spread = (h - h[:, :1]).abs().max().item()
            if naive:
                assert spread > 1e-2, f"{kind} naive input masks should differ between steps"
            else:
                record(f"{kind} inputDropout 0.5, same x_t each step, W_hh = 0: max |h_t - h_1|", spread, 1e-6)
        # outputDropout on "all": one mask for every step
        module = crafted_recurrent(kind, False, "outputDropout")
        with torch.no_grad():
            module.weight_ih_l0.normal_()
            h, _ = module(torch.randn(n, length, 3), valid)
        alive = h.abs() > 0
        assert bool((alive == alive[:, :1]).all()), f"{kind} outputDropout: one mask for all steps"
        RESULTS[f"{kind} outputDropout 0.5, return all: zero pattern identical at every step"] = True

    # word dropout: one keep/drop per (sequence, token id), shared by every occurrence; kept rows scaled 1/(1-p)
    p = 0.5
    embedding = ref.Embedding(12, 4, p).train()
    ids = torch.randint(1, 5, (n, 10)).float()  # ids 1..4 only: many repeats
    ids[:, 8:] = 0.0
    id_valid = ids != 0
    with torch.no_grad():
        y, _ = embedding(ids, id_valid)
    plain = embedding.weight[ids.long()] * id_valid[..., None]
    kept = y.abs().sum(-1) > 0  # [n, 10]
    worst = 0.0
    for token in range(1, 5):
        where = ids == token
        k = kept.masked_fill(~where, False)
        any_kept, all_kept = k.any(1), (k | ~where).all(1)
        assert bool(((any_kept & where.any(1)) == (all_kept & where.any(1))).all()), f"id {token}: mixed drops"
        sel = where & kept
        worst = max(worst, (y[sel] - plain[sel] / (1 - p)).abs().max().item())
    assert not bool(kept[:, 8:].any()), "padding stays 0"
    share = kept[:, :8].float().mean().item()
    assert abs(share - (1 - p)) < 0.05, share
    first = kept[:, 0]
    assert 0 < first.float().mean().item() < 1, "sequences draw their own masks"
    record("wordDropout 0.5: kept occurrences equal weight / (1 - p)", worst, 1e-6)
    RESULTS["wordDropout 0.5: every occurrence of an id in a sequence kept or dropped together"] = True

    # attention dropout is not renormalised: with every attention weight dropped the attention output is out_proj.bias
    layer = {"dModel": 8, "heads": 2, "ffn": 8, "layers": 1, "dropout": 0.0, "attentionDropout": 1.0,
             "normFirst": True, "activation": "relu"}
    encoder = ref.TransformerEncoder(layer, 8).train()
    x = torch.randn(3, 5, 8)
    with torch.no_grad():
        block = encoder.layers[0]
        attended = encoder.attention(block, block.norm1(x), torch.zeros(3, 5, dtype=torch.bool), True)
    record("attentionDropout 1: attention output equals out_proj.bias (no renormalisation)",
           (attended - block.self_attn.out_proj.bias).abs().max().item(), 1e-6)


# --- fixtures -------------------------------------------------------------------------------------------------


def make(name, spec, statistic, lengths, vocab=None, recurrent_scale=1.0, naive=False):
    torch.manual_seed(INIT_SEED)
    modules = ref.build(spec)
    adjust_weights(modules, recurrent_scale)
    modules.eval()
    inputs, written = make_inputs(spec, lengths, torch.Generator().manual_seed(INPUT_SEED), vocab)
    _, valid = ref.prepare_input(inputs, spec)
    assert valid.sum(1).tolist() == lengths, (valid.sum(1).tolist(), lengths)

    deterministic = check_padding(name, spec, modules, inputs)
    y = sample(modules, inputs, spec)
    reference = {
        "torchVersion": torch.__version__,
        "spec": f"{name}-spec.json",
        "weights": f"{name}.safetensors",
        "seeds": {"init": INIT_SEED, "runningStats": None, "inputs": INPUT_SEED, "mc": MC_SEED},
        "inputs": base.as_list(written),
        "lengths": lengths,
        "deterministic": base.as_list(deterministic),
        "mc": mc_block(y, statistic),
    }
    spread = (y.var(0, unbiased=False).sqrt() / (y.mean(0).abs() + 1e-3)).mean().item()
    RESULTS[f"{name}: (info) mean MC std / |MC mean|"] = spread
    if naive:
        y_naive = sample(rebuild(with_rates(spec, naive=True), modules), inputs, spec)
        reference["naiveMc"] = mc_block(y_naive, statistic)
        var, var_naive = y.var(0, unbiased=False), y_naive.var(0, unbiased=False)
        se = lambda t: ((((t - t.mean(0)) ** 4).mean(0) - t.var(0, unbiased=False) ** 2).clamp(min=0) / SAMPLES).sqrt()
        z = ((var - var_naive).abs() / (se(y) ** 2 + se(y_naive) ** 2).sqrt())
        RESULTS[f"{name}: variational vs naive variance, |difference| / standard error, min over outputs"] = z.min().item()
        RESULTS[f"{name}: variational vs naive variance, |difference| / standard error, max over outputs"] = z.max().item()
        assert z.max().item() > 10, "naive and variational masks should give clearly different variances"

    state = modules.state_dict()
    weights = os.path.join(HERE, f"{name}.safetensors")
    ref.save_safetensors(state, weights)
    base.check_round_trip(weights, state)
    base.write_json(os.path.join(HERE, f"{name}-spec.json"), spec)
    base.write_json(os.path.join(HERE, f"{name}-reference.json"), reference)
    print(f"{name}: torch {torch.__version__}")
    for key, tensor in ref.load_safetensors(weights).items():
        print(f"  {key}\t{list(tensor.shape)}\t{tensor.dtype}")


if __name__ == "__main__":
    check_masks()
    make("lstm", LSTM_SPEC, "raw output", [1, 7, 4, 2, 6, 5], recurrent_scale=3.0, naive=True)
    make("gru-text", GRU_TEXT_SPEC, "softmax probabilities", [1, 9, 4, 6, 2, 7], vocab=30, recurrent_scale=3.0)
    make("transformer", TRANSFORMER_SPEC, "softmax probabilities", [1, 8, 3, 5, 6, 2], vocab=40)
    make("transformer-prenorm", TRANSFORMER_PRENORM_SPEC, "raw output", [1, 6, 3, 5, 2, 4])
    print("self-checks:")
    for key, value in RESULTS.items():
        print(f"  {key}: {value}")
