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

from grokscope.models.nanogpt import nanogpt_init, nanogpt_param_count
from grokscope.models.presets import NANOGPT_PRESETS, model_kwargs


def state_shapes(preset: str, task: Any) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of ``preset`` sized for ``task``, by name, in ``named_parameters()`` order."""
    kw = model_kwargs(preset, task)
    d, h, k, m = kw["d_model"], kw["n_heads"], kw["d_head"], kw["d_mlp"]
    ln = kw["normalization_type"] == "LN"
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (kw["d_vocab"], d), "pos_embed.W_pos": (kw["n_ctx"], d)}
    for i in range(kw["n_layers"]):
        b = f"blocks.{i}."
        if ln:
            shapes |= {b + "ln1.w": (d,), b + "ln1.b": (d,), b + "ln2.w": (d,), b + "ln2.b": (d,)}
        shapes |= {
            b + "attn.W_Q": (h, d, k), b + "attn.W_O": (h, k, d), b + "attn.b_Q": (h, k), b + "attn.b_O": (d,),
            b + "attn.W_K": (h, d, k), b + "attn.W_V": (h, d, k), b + "attn.b_K": (h, k), b + "attn.b_V": (h, k),
            b + "mlp.W_in": (d, m), b + "mlp.b_in": (m,), b + "mlp.W_out": (m, d), b + "mlp.b_out": (d,),
        }
    if ln:
        shapes |= {"ln_final.w": (d,), "ln_final.b": (d,)}
    return shapes | {"unembed.W_U": (d, kw["d_vocab_out"]), "unembed.b_U": (kw["d_vocab_out"],)}


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
        nanogpt_init(state, torch.Generator().manual_seed(0 if seed is None else seed),
                     n_layers=model_kwargs(preset, task)["n_layers"])
    return state


def count_params(preset: str, task: Any) -> int:
    """Parameters counted the TransformerLens way: every tensor (biases, frozen or not, the separate
    ``W_U`` and the position embeddings included)."""
    return sum(math.prod(s) for s in state_shapes(preset, task).values())


def count_params_nanogpt(preset: str, task: Any) -> int:
    """Parameters counted nanoGPT's way (no biases, tied ``W_U`` once, no position embeddings): the
    convention of "Too Big to Think"'s tables."""
    return nanogpt_param_count(state_shapes(preset, task))


__all__ = ["count_params", "count_params_nanogpt", "initial_state", "state_shapes"]
