"""Typed names of TransformerLens hook points: no code in grokscope spells a hook string by hand.

Each helper returns the exact key of the model's ``hook_dict`` for that activation, the same on
TransformerLens 3.x and 4.x (checked against a real model in ``tests/models/test_hooks.py``). On
4.x's ``TransformerBridge`` an edit at :func:`resid_mid` reaches the MLP but not the residual
stream's skip path; reading it, and editing every other point here, behaves as on 3.x. Shapes
are those TransformerLens passes to a forward hook at that point, for a batch of token rows of
length ``pos``.

>>> mlp_post(0)
'blocks.0.mlp.hook_post'
>>> logits()
'unembed.hook_out'
"""

from typing import NewType

HookName = NewType("HookName", str)
"""A hook-point name, as a key of ``HookedTransformer.hook_dict``."""


def _layer(layer: int) -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
        raise ValueError(f"a layer index is an integer >= 0, got {layer!r}")
    return layer


def _block(layer: int, name: str) -> HookName:
    return HookName(f"blocks.{_layer(layer)}.{name}")


def embed() -> HookName:
    """Token embeddings ``W_E[tokens]``: ``(batch, pos, d_model)``."""
    return HookName("hook_embed")


def pos_embed() -> HookName:
    """Positional embeddings: ``(batch, pos, d_model)``."""
    return HookName("hook_pos_embed")


def resid_pre(layer: int) -> HookName:
    """Residual stream entering block ``layer``: ``(batch, pos, d_model)``."""
    return _block(layer, "hook_resid_pre")


def resid_mid(layer: int) -> HookName:
    """Residual stream after attention, before the MLP: ``(batch, pos, d_model)``."""
    return _block(layer, "hook_resid_mid")


def resid_post(layer: int) -> HookName:
    """Residual stream leaving block ``layer``: ``(batch, pos, d_model)``."""
    return _block(layer, "hook_resid_post")


def attn_q(layer: int) -> HookName:
    """Queries: ``(batch, pos, head, d_head)``."""
    return _block(layer, "attn.hook_q")


def attn_k(layer: int) -> HookName:
    """Keys: ``(batch, pos, head, d_head)``."""
    return _block(layer, "attn.hook_k")


def attn_v(layer: int) -> HookName:
    """Values: ``(batch, pos, head, d_head)``."""
    return _block(layer, "attn.hook_v")


def attn_scores(layer: int) -> HookName:
    """Attention scores before the softmax: ``(batch, head, query_pos, key_pos)``."""
    return _block(layer, "attn.hook_attn_scores")


def attn_pattern(layer: int) -> HookName:
    """Attention pattern: ``(batch, head, query_pos, key_pos)``."""
    return _block(layer, "attn.hook_pattern")


def attn_z(layer: int) -> HookName:
    """Each head's mix of values, before ``W_O``: ``(batch, pos, head, d_head)``. Ablate heads here."""
    return _block(layer, "attn.hook_z")


def attn_out(layer: int) -> HookName:
    """Attention output written to the residual stream (heads summed, ``b_O`` in): ``(batch, pos, d_model)``."""
    return _block(layer, "hook_attn_out")


def mlp_in(layer: int) -> HookName:
    """The MLP's input: ``(batch, pos, d_model)``."""
    return _block(layer, "hook_mlp_in")


def mlp_pre(layer: int) -> HookName:
    """Neuron pre-activations: ``(batch, pos, d_mlp)``."""
    return _block(layer, "mlp.hook_pre")


def mlp_post(layer: int) -> HookName:
    """Neuron activations after the nonlinearity: ``(batch, pos, d_mlp)``."""
    return _block(layer, "mlp.hook_post")


def mlp_out(layer: int) -> HookName:
    """The MLP's output written to the residual stream: ``(batch, pos, d_model)``."""
    return _block(layer, "hook_mlp_out")


def unembed_in() -> HookName:
    """The residual stream entering the unembedding: ``(batch, pos, d_model)``."""
    return HookName("unembed.hook_in")


def logits() -> HookName:
    """The logits: ``(batch, pos, d_vocab_out)``."""
    return HookName("unembed.hook_out")


__all__ = [
    "HookName",
    "attn_k",
    "attn_out",
    "attn_pattern",
    "attn_q",
    "attn_scores",
    "attn_v",
    "attn_z",
    "embed",
    "logits",
    "mlp_in",
    "mlp_out",
    "mlp_post",
    "mlp_pre",
    "pos_embed",
    "resid_mid",
    "resid_post",
    "resid_pre",
    "unembed_in",
]
