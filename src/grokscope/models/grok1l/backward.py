"""The fused training step's loss and gradients, with the backward written out by hand (CPU).

Autograd through ``fused_tables`` and the gather builds about eighty graph nodes of small ops
per step; on a small CPU their dispatch, the extra copies and the per-node bookkeeping cost
about as much as the per-example work itself. Here the forward keeps what the backward needs
(``table_parts``), the backward applies the chain rule directly in a few larger products, and
the gradients are written to each parameter's ``.grad``. Tested equal to autograd through
``HookedTransformer`` (float64, rtol 1e-7).
"""

import math
from dataclasses import fields

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.models.grok1l.fused import (
    FusedTables,
    OperandBatch,
    TableParts,
    gather_backward,
    gather_forward,
    table_parts,
)
from grokscope.models.grok1l.params import Grok1LParams
from grokscope.numerics.cross_entropy import cross_entropy_and_grad


@torch.no_grad()
def fused_loss_and_grad(
    w: Grok1LParams, batch: OperandBatch, labels: Int[Tensor, " batch"], eq_token: int
) -> tuple[Float[Tensor, ""], Float[Tensor, "batch d_vocab_out"]]:
    """Mean cross-entropy (float64) and logits of a 1-layer modular model on ``batch``; sets ``.grad``.

    The same numbers as ``cross_entropy(fused_final_logits(...))`` followed by ``backward()``, up
    to float rounding: every parameter's ``.grad`` is *replaced* (not accumulated), and those
    that do not require grad are left alone.
    """
    parts = table_parts(w, eq_token)
    W_U, W_out = w.W_U, w.W_out
    d_mlp = W_out.shape[0]
    hidden, pattern = gather_forward(batch, parts.tables, d_mlp)  # [post | direct] per example
    post = hidden[:, :d_mlp]
    W_L = W_out @ W_U  # W_out and W_U folded into one (d_mlp, d_vocab_out) map
    logits = torch.addmm(hidden[:, d_mlp:], post, W_L).add_(w.b_out @ W_U + w.b_U)

    grad = torch.empty_like(hidden)  # at [post | direct]; the gather's backward applies the ReLU's mask
    loss = _cross_entropy_into(logits, labels, grad, d_mlp)
    grad_logits = grad[:, d_mlp:]
    torch.mm(grad_logits, W_L.T, out=grad[:, :d_mlp])
    grad_W_L = post.T @ grad_logits
    g = gather_backward(batch, parts.tables.tables.contiguous(), pattern, hidden, grad, d_mlp)
    grads = table_grads(w, parts, g)

    grad_bias = g.const[d_mlp:]  # the direct path carries every logit's gradient, so its sum is the bias's
    grads["W_out"] = grad_W_L @ W_U.T
    grads["b_out"] = W_U @ grad_bias
    grads["W_U"] += (W_out.T @ grad_W_L).addr_(w.b_out, grad_bias)
    grads["b_U"] = grad_bias.clone()

    for f in fields(w):
        p = getattr(w, f.name)
        if p.requires_grad:
            p.grad = grads[f.name]
    return loss, logits


def _cross_entropy_into(
    logits: Float[Tensor, "batch classes"],
    labels: Int[Tensor, " batch"],
    grad: Float[Tensor, "batch width"],
    offset: int,
) -> Float[Tensor, ""]:
    """The mean cross-entropy; its gradient at the logits goes to ``grad[:, offset:]``.

    float32 takes the one-pass numba kernel; float64 (the tests' reference precision) and
    non-finite logits (a diverged run, which fastmath code must not see) take PyTorch.
    """
    # A NaN or inf anywhere makes the sum non-finite (so does a finite overflow, which is then sent
    # to PyTorch needlessly but correctly): one pass, where isfinite().all() takes four.
    if logits.dtype == torch.float32 and math.isfinite(logits.sum().item()):
        from grokscope.numerics.cross_entropy_kernel import margin_cross_entropy

        losses = torch.empty(len(labels), dtype=torch.float64)
        margin_cross_entropy(logits.numpy(), labels.numpy(), grad.numpy(), offset, losses.numpy())
        return losses.mean()
    loss, grad_logits = cross_entropy_and_grad(logits, labels)
    grad[:, offset:] = grad_logits
    return loss


def table_grads(w: Grok1LParams, parts: TableParts, grad: FusedTables) -> dict[str, Tensor]:
    """Gradients of the parameters that ``table_parts`` reads (by ``Grok1LParams`` field), from the
    gradients at its outputs.

    ``grad`` holds the gradients at ``scores (2, p, h)``, ``score_eq (h,)``, ``tables (h, 2, p,
    width)`` and ``const (width,)``. ``W_U`` gets only its share through ``W_cat``.
    """
    W_E, W_pos, W_Q, W_K, W_V, W_O = w.W_E, w.W_pos, w.W_Q, w.W_K, w.W_V, w.W_O
    b_K = w.b_K
    n_heads, _d_model, d_head = W_Q.shape
    d_mlp = w.d_mlp
    p = parts.resid.shape[0] // 2
    scale = math.sqrt(d_head)
    W_O_flat = einops.rearrange(W_O, "h k d -> (h k) d")
    W_V_flat = einops.rearrange(W_V, "h d k -> d (h k)")

    # tables[h] = vals[h] @ OW[h], OW = W_O @ W_cat; const = c_in @ W_cat + [b_in | 0]
    grad_T = einops.rearrange(grad.tables, "h s p m -> h (s p) m")
    grad_vals = torch.bmm(grad_T, parts.OW.transpose(1, 2))  # (h, 2p, k)
    grad_OW = einops.rearrange(torch.bmm(parts.vals.transpose(1, 2), grad_T), "h k m -> (h k) m")
    grad_c_in = parts.W_cat @ grad.const
    v_eq_flat = einops.rearrange(parts.v_eq, "h k -> (h k)")
    grad_W_O = (grad_OW @ parts.W_cat.T).addr_(v_eq_flat, grad_c_in)
    grad_W_cat = (W_O_flat.T @ grad_OW).addr_(parts.c_in, grad.const)
    # vals were stored with v_eq subtracted; v_eq also reaches const through W_O
    grad_v_eq = einops.rearrange(W_O_flat @ grad_c_in, "(h k) -> h k", h=n_heads) - grad_vals.sum(1)
    grad_v_eq_flat = einops.rearrange(grad_v_eq, "h k -> (h k)")

    # vals = resid @ W_V + b_V and scores = resid @ key_dir + key_bias read the same residuals
    grad_VS = torch.cat(
        [einops.rearrange(grad_vals, "h sp k -> sp (h k)"), einops.rearrange(grad.scores, "s p h -> (s p) h")], dim=1
    )  # (2p, hk + h)
    grad_VS_eq = torch.cat([grad_v_eq_flat, grad.score_eq])
    grad_W_VK = (parts.resid.T @ grad_VS).addr_(parts.resid_eq, grad_VS_eq)  # (d, hk + h)
    grad_resid = grad_VS @ torch.cat([W_V_flat, parts.key_dir], dim=1).T  # (2p, d)
    grad_W_V_flat, grad_key_dir = grad_W_VK.split([n_heads * d_head, n_heads], dim=1)
    grad_b_V = grad_VS[:, : n_heads * d_head].sum(0) + grad_v_eq_flat
    grad_key_bias = grad_VS[:, n_heads * d_head :].sum(0) + grad.score_eq

    # key_dir[:, h] = W_K[h] @ q[h] / scale, key_bias[h] = b_K[h] . q[h] / scale. key_bias shifts all
    # three scores of a head alike, so its gradient is zero up to rounding; kept as autograd has it.
    grad_q = (einops.einsum(W_K, grad_key_dir, "h d k, d h -> h k") + b_K * grad_key_bias[:, None]) / scale
    grad_W_K = (einops.einsum(grad_key_dir, parts.q, "d h, h k -> h d k") / scale).contiguous()
    grad_b_K = parts.q * grad_key_bias[:, None] / scale

    # q = resid_eq @ W_Q + b_Q; resid_eq also feeds v_eq, score_eq and c_in
    grad_resid_eq = (
        grad_c_in
        + W_V_flat @ grad_v_eq_flat
        + parts.key_dir @ grad.score_eq
        + einops.rearrange(W_Q, "h d k -> d (h k)") @ einops.rearrange(grad_q, "h k -> (h k)")
    )
    grad_W_E = torch.zeros_like(W_E)
    grad_W_E[:p] = grad_resid[:p] + grad_resid[p:]
    grad_W_E[p] = grad_resid_eq
    grad_W_pos = torch.zeros_like(W_pos)
    grad_W_pos[0], grad_W_pos[1], grad_W_pos[2] = grad_resid[:p].sum(0), grad_resid[p:].sum(0), grad_resid_eq
    return {
        "W_E": grad_W_E,
        "W_pos": grad_W_pos,
        "W_Q": einops.einsum(parts.resid_eq, grad_q, "d, h k -> h d k"),
        "b_Q": grad_q,
        "W_K": grad_W_K,
        "b_K": grad_b_K,
        "W_V": einops.rearrange(grad_W_V_flat, "d (h k) -> h d k", h=n_heads).contiguous(),
        "b_V": einops.rearrange(grad_b_V, "(h k) -> h k", h=n_heads),
        "W_O": einops.rearrange(grad_W_O, "(h k) d -> h k d", h=n_heads),
        "b_O": grad_c_in,
        "W_in": grad_W_cat[:, :d_mlp].contiguous(),
        "b_in": grad.const[:d_mlp].clone(),
        "W_U": grad_W_cat[:, d_mlp:].contiguous(),
    }


__all__ = ["fused_loss_and_grad", "table_grads"]
