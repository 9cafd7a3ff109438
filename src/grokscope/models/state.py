"""Every preset's parameters as a state dict, without TransformerLens: shapes, initial values, counts.

The state dict is the one format grokscope keeps (checkpoints, the trainers' parameters): the
names and layouts of TransformerLens 3.x's ``HookedTransformer``, in its ``named_parameters()``
order, whichever TransformerLens is installed (``models/build.py`` maps it onto the installed
version's model). :func:`initial_state` draws the initial weights the way TransformerLens 3.x
does ("gpt2" init: every ``W_`` tensor from N(0, (0.8 / sqrt(d_model))^2) in that order, from the
seeded global RNG; LayerNorm weights 1, biases 0), then the nanoGPT-style presets are
re-initialised nanoGPT's way (``models/nanogpt.py``). Tested bit-equal to TransformerLens 3.9's.
"""

import math
from typing import Any

import torch
from torch import Tensor

from grokscope.models.counts import count_params, count_params_nanogpt, state_shapes
from grokscope.models.nanogpt import nanogpt_init
from grokscope.models.presets import NANOGPT_PRESETS, model_kwargs


def initial_state(preset: str, task: Any, *, seed: int | None = 0) -> dict[str, Tensor]:
    """The initial parameters of a new ``preset`` model for ``task`` (float32, CPU); the caller's
    global RNG is left as it was. ``seed=None`` draws from it instead, unseeded."""
    shapes = state_shapes(preset, task)
    std = 0.8 / math.sqrt(model_kwargs(preset, task)["d_model"])
    state: dict[str, Tensor] = {}
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        for name, shape in shapes.items():
            if "W_" in name:
                state[name] = torch.empty(shape).normal_(0.0, std)
            else:  # LayerNorm weights are ones, every bias zero
                state[name] = torch.ones(shape) if name.endswith(".w") else torch.zeros(shape)
    if preset in NANOGPT_PRESETS:
        nanogpt_init(
            state,
            torch.Generator().manual_seed(0 if seed is None else seed),
            n_layers=model_kwargs(preset, task)["n_layers"],
        )
    return state


__all__ = ["count_params", "count_params_nanogpt", "initial_state", "state_shapes"]
