"""The specification: the 1-layer model's forward at every position, written out plainly.

This is what ``HookedTransformer`` computes for the ``grok1l`` preset (no LayerNorm, ReLU MLP,
causal attention scaled by ``1/sqrt(d_head)``, learned positions), in a dozen lines with no
shortcuts. The accelerated forwards beside it are checked against it, and it against
``HookedTransformer``, in ``tests/models/grok1l/test_parity.py``.
"""

import math
from typing import NamedTuple

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.models.grok1l.params import Grok1LParams


class ReferenceCache(NamedTuple):
    """Activations at every position (TransformerLens hook names in the comments)."""

    pattern: Float[Tensor, "batch n_heads query key"]  # blocks.0.attn.hook_pattern
    resid_mid: Float[Tensor, "batch pos d_model"]  # blocks.0.hook_resid_mid
    mlp_post: Float[Tensor, "batch pos d_mlp"]  # blocks.0.mlp.hook_post
    logits: Float[Tensor, "batch pos d_vocab_out"]


def reference_forward(w: Grok1LParams, tokens: Int[Tensor, "batch pos"]) -> ReferenceCache:
    """Run the model on ``tokens`` (``[a, b, =]`` rows for the grokking tasks)."""
    n_pos = tokens.shape[1]
    resid = w.W_E[tokens] + w.W_pos[:n_pos]
    q = einops.einsum(resid, w.W_Q, "b s d, h d k -> b s h k") + w.b_Q
    k = einops.einsum(resid, w.W_K, "b s d, h d k -> b s h k") + w.b_K
    v = einops.einsum(resid, w.W_V, "b s d, h d k -> b s h k") + w.b_V
    scores = einops.einsum(q, k, "b sq h k, b sk h k -> b h sq sk") / math.sqrt(w.d_head)
    future = torch.ones(n_pos, n_pos, dtype=torch.bool, device=tokens.device).triu(1)
    pattern = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
    z = einops.einsum(pattern, v, "b h sq sk, b sk h k -> b sq h k")
    resid_mid = resid + einops.einsum(z, w.W_O, "b s h k, h k d -> b s d") + w.b_O
    mlp_post = torch.relu(resid_mid @ w.W_in + w.b_in)
    resid_post = resid_mid + mlp_post @ w.W_out + w.b_out
    return ReferenceCache(pattern, resid_mid, mlp_post, resid_post @ w.W_U + w.b_U)


__all__ = ["ReferenceCache", "reference_forward"]
