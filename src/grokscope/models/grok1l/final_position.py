"""The model's logits at the final position only, in plain PyTorch ops (any device, autograd).

For inputs ``[a, b, =]`` the '=' position's residual is the same for every example, so its query
is one vector per head; the operand positions' keys and values depend on a single token each and
come from ``(p, ...)`` tables built once per call. Only the per-example work (gathers, the
attention mix, the MLP and the unembedding) scales with the batch. The logits equal
``HookedTransformer(tokens)[:, -1]`` up to float rounding (``tests/models/grok1l/test_parity.py``).
"""

import math
from typing import NamedTuple

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.models.grok1l.params import Grok1LParams


class FinalPositionCache(NamedTuple):
    """Activations at the final position, TransformerLens hook names in the comments."""

    pattern: Float[Tensor, "batch n_heads 3"]  # blocks.0.attn.hook_pattern[:, :, -1]
    resid_mid: Float[Tensor, "batch d_model"]  # blocks.0.hook_resid_mid[:, -1]
    mlp_post: Float[Tensor, "batch d_mlp"]  # blocks.0.mlp.hook_post[:, -1]
    logits: Float[Tensor, "batch d_vocab_out"]


def final_position_cache(
    w: Grok1LParams, a: Int[Tensor, " batch"], b: Int[Tensor, " batch"], eq_token: int
) -> FinalPositionCache:
    """Final-position activations and logits of a 1-layer model on ``[a, b, =]``."""
    W_E, W_pos, W_Q, W_K, W_V, W_O = w.W_E, w.W_pos, w.W_Q, w.W_K, w.W_V, w.W_O
    b_Q, b_K, b_V, b_O = w.b_Q, w.b_K, w.b_V, w.b_O
    d_head = W_Q.shape[-1]

    # Per-token tables for the operand positions, one vector for '='.
    resid_a = W_E[:eq_token] + W_pos[0]  # (p, d_model)
    resid_b = W_E[:eq_token] + W_pos[1]
    resid_eq = W_E[eq_token] + W_pos[2]  # (d_model,)
    q = einops.einsum(resid_eq, W_Q, "d, h d k -> h k") + b_Q
    keys = einops.einsum(torch.stack([resid_a, resid_b]), W_K, "s p d, h d k -> s p h k") + b_K
    k_eq = einops.einsum(resid_eq, W_K, "d, h d k -> h k") + b_K
    scale = math.sqrt(d_head)
    score_tab = einops.einsum(keys, q, "s p h k, h k -> s p h") / scale  # (2, p, h)
    score_eq = (k_eq * q).sum(-1) / scale  # (h,)
    vals = einops.einsum(torch.stack([resid_a, resid_b]), W_V, "s p d, h d k -> s p h k") + b_V
    v_eq = einops.einsum(resid_eq, W_V, "d, h d k -> h k") + b_V

    # Per-example work from here on. index_select has a much cheaper backward than W[idx] on CPU.
    n_heads = W_Q.shape[0]
    scores = torch.stack(
        [score_tab[0].index_select(0, a), score_tab[1].index_select(0, b), score_eq.expand(len(a), n_heads)],
        dim=-1,
    )  # (batch, h, 3)
    pattern = scores.softmax(dim=-1)
    z = (
        pattern[..., 0:1] * vals[0].index_select(0, a)
        + pattern[..., 1:2] * vals[1].index_select(0, b)
        + pattern[..., 2:3] * v_eq
    )  # (batch, h, k)
    z = einops.rearrange(z, "batch h k -> batch (h k)")
    W_O_flat = einops.rearrange(W_O, "h k d -> (h k) d")
    resid_mid = resid_eq + b_O + z @ W_O_flat
    mlp_post = torch.relu(resid_mid @ w.W_in + w.b_in)
    # W_out and W_U folded into one (d_mlp, d_vocab_out) map: ~10% fewer FLOPs per example.
    W_U = w.W_U
    W_L = w.W_out @ W_U
    bias = w.b_out @ W_U + w.b_U
    logits = resid_mid @ W_U + mlp_post @ W_L + bias
    return FinalPositionCache(pattern, resid_mid, mlp_post, logits)


def final_position_logits(
    w: Grok1LParams, a: Int[Tensor, " batch"], b: Int[Tensor, " batch"], eq_token: int
) -> Float[Tensor, "batch d_vocab_out"]:
    """Logits at the final position; equals ``HookedTransformer(tokens)[:, -1]`` to float rounding."""
    return final_position_cache(w, a, b, eq_token).logits
