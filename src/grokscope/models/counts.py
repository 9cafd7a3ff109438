"""Every preset's parameter shapes and counts, from its config alone: no torch, no TransformerLens.

``grokscope models`` lists the counts without loading either (seconds saved on every call);
``models/state.py`` builds the initial weights on these shapes.
"""

import math
from collections.abc import Iterable, Mapping
from typing import Any

from grokscope.models.presets import model_kwargs


def is_bias(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("b")


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
            b + "attn.W_Q": (h, d, k),
            b + "attn.W_O": (h, k, d),
            b + "attn.b_Q": (h, k),
            b + "attn.b_O": (d,),
            b + "attn.W_K": (h, d, k),
            b + "attn.W_V": (h, d, k),
            b + "attn.b_K": (h, k),
            b + "attn.b_V": (h, k),
            b + "mlp.W_in": (d, m),
            b + "mlp.b_in": (m,),
            b + "mlp.W_out": (m, d),
            b + "mlp.b_out": (d,),
        }
    if ln:
        shapes |= {"ln_final.w": (d,), "ln_final.b": (d,)}
    return shapes | {"unembed.W_U": (d, kw["d_vocab_out"]), "unembed.b_U": (kw["d_vocab_out"],)}


def count_params(preset: str, task: Any) -> int:
    """Parameters counted the TransformerLens way: every tensor (biases, frozen or not, the separate
    ``W_U`` and the position embeddings included)."""
    return sum(math.prod(s) for s in state_shapes(preset, task).values())


def count_params_nanogpt(preset: str, task: Any) -> int:
    """Parameters counted nanoGPT's way (no biases, tied ``W_U`` once, no position embeddings): the
    convention of "Too Big to Think"'s tables."""
    return nanogpt_param_count(state_shapes(preset, task))


def nanogpt_param_count(shapes: Mapping[str, Iterable[int]]) -> int:
    """Parameters the way nanoGPT's ``get_num_params`` counts them (the paper's counts), from the shapes.

    Biases are absent in nanoGPT, the tied ``W_U`` is ``W_E`` (counted once), and position
    embeddings are subtracted by default (``non_embedding=True``).
    """
    return sum(
        math.prod(s)
        for name, s in shapes.items()
        if not is_bias(name) and name not in ("unembed.W_U", "pos_embed.W_pos")
    )


__all__ = ["count_params", "count_params_nanogpt", "is_bias", "nanogpt_param_count", "state_shapes"]
