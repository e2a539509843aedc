#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of this folder (run with the python that has torch: /usr/bin/python3).

    cnn-spec.json, cnn.safetensors, cnn-reference.json   a small CNN classifier with BatchNorm and Dropout2d
    mlp-spec.json, mlp.safetensors, mlp-reference.json   a regression MLP as a layer list, no normalisation

Everything is seeded, so a rerun with the same torch build rewrites the same files.
"""

import json
import os
import sys

import torch

sys.dont_write_bytecode = True  # no __pycache__ beside docs/reference

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "docs", "reference"))
import spec_to_torch as ref  # noqa: E402

INIT_SEED = 2016  # torch.manual_seed before build(): the weights
STATS_SEED = 7    # the train-mode passes that move BatchNorm's running statistics
INPUT_SEED = 11   # the 6 input rows
MC_SEED = 12345   # PyTorch's dropout masks for the MC statistics
ROWS = 6
SAMPLES = 20000

CNN_SPEC = {
    "inputShape": [1, 8, 8],
    "layers": [
        {"type": "conv2d", "out": 8, "kernel": 3, "padding": 1},
        {"type": "relu"},
        {"type": "dropout2d", "p": 0.2},
        {"type": "maxPool2d", "kernel": 2},
        {"type": "batchNorm2d"},
        {"type": "flatten"},
        {"type": "linear", "out": 32},
        {"type": "gelu"},
        {"type": "dropout", "p": 0.5},
        {"type": "linear", "out": 10},
    ],
    "head": {"kind": "classification", "outputs": 10},
    "dropoutKind": "inverted",
}

MLP_SPEC = {
    "inputShape": [5],
    "layers": [
        {"type": "linear", "out": 16},
        {"type": "tanh"},
        {"type": "dropout", "p": 0.3},
        {"type": "linear", "out": 16},
        {"type": "relu"},
        {"type": "dropout", "p": 0.2},
        {"type": "linear", "out": 1},
    ],
    "head": {"kind": "regression", "outputs": 1},
    "dropoutKind": "inverted",
}


def move_running_stats(modules, spec, passes=5, rows=64):
    """Train-mode passes on shifted, scaled random rows, so running_mean/var are far from 0 and 1."""
    generator = torch.Generator().manual_seed(STATS_SEED)
    width = int(torch.tensor(spec["inputShape"]).prod())
    torch.manual_seed(STATS_SEED)  # the dropout masks of these passes
    modules.train()
    with torch.no_grad():
        for _ in range(passes):
            ref.forward(modules, 2.0 * torch.randn(rows, width, generator=generator) + 0.5, spec)
    modules.eval()


def as_list(tensor):
    """Nested lists of Python floats; float32 values become the doubles equal to them (exact round trip)."""
    return tensor.double().tolist()


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def make(name, spec, statistic, normalised):
    torch.manual_seed(INIT_SEED)
    modules = ref.build(spec)
    if normalised:
        move_running_stats(modules, spec)
    width = int(torch.tensor(spec["inputShape"]).prod())
    inputs = torch.randn(ROWS, width, generator=torch.Generator().manual_seed(INPUT_SEED))

    with torch.no_grad():
        deterministic = ref.forward(modules.eval(), inputs, spec)
    torch.manual_seed(MC_SEED)
    y = ref.mc_samples(modules, inputs, spec, SAMPLES).double()  # [T, rows, outputs]
    mean = y.mean(0)
    variance = y.var(0, unbiased=False)
    # Monte Carlo standard errors of these estimates: sqrt(var / T) for the mean, sqrt((m4 - var^2) / T) for the variance.
    m4 = ((y - mean) ** 4).mean(0)

    state = modules.state_dict()
    weights = os.path.join(HERE, f"{name}.safetensors")
    ref.save_safetensors(state, weights)
    check_round_trip(weights, state)

    write_json(os.path.join(HERE, f"{name}-spec.json"), spec)
    write_json(os.path.join(HERE, f"{name}-reference.json"), {
        "torchVersion": torch.__version__,
        "spec": f"{name}-spec.json",
        "weights": f"{name}.safetensors",
        "seeds": {"init": INIT_SEED, "runningStats": STATS_SEED if normalised else None, "inputs": INPUT_SEED, "mc": MC_SEED},
        "inputs": as_list(inputs),
        "deterministic": as_list(deterministic),
        "mc": {
            "samples": SAMPLES,
            "statistic": statistic,
            "mean": as_list(mean),
            "variance": as_list(variance),
            "meanStandardError": as_list((variance / SAMPLES).sqrt()),
            "varianceStandardError": as_list(((m4 - variance ** 2).clamp(min=0) / SAMPLES).sqrt()),
        },
    })
    print(f"{name}: torch {torch.__version__}")
    for key, tensor in ref.load_safetensors(weights).items():
        print(f"  {key}\t{list(tensor.shape)}\t{tensor.dtype}")


def check_round_trip(path, state):
    back = ref.load_safetensors(path)
    assert sorted(back) == sorted(state), (sorted(back), sorted(state))
    for key, tensor in state.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key


if __name__ == "__main__":
    make("cnn", CNN_SPEC, "softmax probabilities", normalised=True)
    make("mlp", MLP_SPEC, "raw output", normalised=False)
