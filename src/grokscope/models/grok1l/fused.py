"""The final-position forward with its per-example work in numba kernels (CPU): the training and analysis hot path.

The per-token part (``table_parts``: every operand token's attention score and its value mapped
through ``W_O`` and ``[W_in | W_U]``) stays in PyTorch; each example then reads two rows of those
tables per head in ``gather_kernels.py``, which replaces the ``d_model x d_mlp`` matmul and its
backward. Same logits as ``final_position.py`` and ``HookedTransformer`` up to float rounding
(``tests/models/grok1l/test_parity.py``).
"""

import math
from typing import NamedTuple

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.models.grok1l.params import Grok1LParams


class OperandBatch:
    """Operand pairs for the fused CPU step, with each token's examples listed once (CSR).

    Build it once for a fixed batch (full-batch training, the test set) and reuse it every step.
    """

    def __init__(self, a: Int[Tensor, " batch"], b: Int[Tensor, " batch"], n_tokens: int):
        import numpy as np

        self.a, self.b = a, b
        self.np_a = a.cpu().numpy().astype(np.int64)
        self.np_b = b.cpu().numpy().astype(np.int64)
        ptrs, idxs = [], []
        for ops in (self.np_a, self.np_b):
            counts = np.bincount(ops, minlength=n_tokens)
            ptrs.append(np.concatenate([[0], np.cumsum(counts)]))
            idxs.append(np.argsort(ops, kind="stable"))
        self.rows_ptr, self.rows_idx = np.stack(ptrs), np.stack(idxs)

    def __len__(self) -> int:
        return len(self.a)


class _FusedGather(torch.autograd.Function):
    """``(scores, score_eq, tables, const) -> (hidden, pattern)`` through the numba kernels.

    ``hidden`` is ``[post | direct]`` per example: the MLP's output after the ReLU and the
    direct path's logits.
    """

    @staticmethod
    def forward(ctx, scores, score_eq, tables, const, batch: OperandBatch, d_mlp: int):
        tables = tables.detach().contiguous()
        hidden, pattern = gather_forward(
            batch, FusedTables(scores.detach(), score_eq.detach(), tables, const.detach()), d_mlp
        )
        ctx.batch, ctx.d_mlp = batch, d_mlp
        ctx.save_for_backward(tables, pattern, hidden)
        ctx.mark_non_differentiable(pattern)
        return hidden, pattern

    @staticmethod
    def backward(ctx, grad_hidden, _grad_pattern):
        tables, pattern, hidden = ctx.saved_tensors
        grad = grad_hidden.clone(memory_format=torch.contiguous_format)  # the kernel masks it in place
        g = gather_backward(ctx.batch, tables, pattern, hidden, grad, ctx.d_mlp)
        return g.scores, g.score_eq, g.tables, g.const, None, None


def gather_forward(
    batch: OperandBatch, t: "FusedTables", d_mlp: int, *, hidden: Tensor | None = None, pattern: Tensor | None = None
) -> tuple[Float[Tensor, "batch width"], Float[Tensor, "batch n_heads 3"]]:
    """``(hidden, pattern)`` for every example: ``hidden = [post | direct]``, ``post`` after the ReLU.

    Writes into ``hidden`` and ``pattern`` when given (reused buffers), else into new tensors.
    """
    from grokscope.models.grok1l import gather_kernels as kernels

    n, n_heads, width = len(batch), t.score_eq.shape[0], t.const.shape[0]
    hidden = torch.empty(n, width, dtype=t.const.dtype) if hidden is None else hidden
    pattern = torch.empty(n, n_heads, 3, dtype=t.const.dtype) if pattern is None else pattern
    kernels.fused_forward(
        batch.np_a,
        batch.np_b,
        t.scores.contiguous().numpy(),
        t.score_eq.contiguous().numpy(),
        t.tables.contiguous().numpy(),
        t.const.contiguous().numpy(),
        hidden.numpy(),
        pattern.numpy(),
        d_mlp,
    )
    return hidden, pattern


def gather_backward(
    batch: OperandBatch, tables: Tensor, pattern: Tensor, hidden: Tensor, grad: Tensor, d_mlp: int
) -> "FusedTables":
    """Gradients at the gather's inputs (in ``FusedTables`` form) from the gradient at ``hidden``.

    ``grad`` (N, width), contiguous, is overwritten: the ReLU's mask is applied to it in place.
    """
    from grokscope.models.grok1l import gather_kernels as kernels

    n, (n_heads, n_pos, n_tok, width) = len(batch), tables.shape
    if batch.rows_ptr.shape[1] - 1 != n_tok:  # the kernels index one with the other, unchecked
        raise ValueError(f"batch lists {batch.rows_ptr.shape[1] - 1} tokens, the tables {n_tok}")
    dtype = hidden.dtype
    grad_scores = torch.empty(n, n_heads, 3, dtype=dtype)
    grad_tables = torch.zeros_like(tables)  # the kernels accumulate into these
    grad_table_scores = torch.zeros(n_pos, n_tok, n_heads, dtype=dtype)
    part_const = torch.zeros(n_tok, width, dtype=dtype)
    part_score_eq = torch.zeros(n_tok, n_heads, dtype=dtype)
    kernels.fused_backward_first(
        batch.np_b,
        batch.rows_ptr,
        batch.rows_idx,
        tables.numpy(),
        pattern.numpy(),
        hidden.numpy(),
        grad.numpy(),
        grad_scores.numpy(),
        grad_tables.numpy(),
        grad_table_scores.numpy(),
        part_const.numpy(),
        part_score_eq.numpy(),
        d_mlp,
    )
    kernels.fused_backward_second(
        pattern.numpy(),
        grad.numpy(),
        grad_scores.numpy(),
        batch.rows_ptr,
        batch.rows_idx,
        grad_tables.numpy(),
        grad_table_scores.numpy(),
    )
    return FusedTables(grad_table_scores, part_score_eq.sum(0), grad_tables, part_const.sum(0))


class FusedTables(NamedTuple):
    """What the fused kernels read, per token rather than per example (see ``fused_tables``)."""

    scores: Float[Tensor, "2 p n_heads"]  # attention score of each operand token at positions 0, 1
    score_eq: Float[Tensor, " n_heads"]  # the '=' position's own score
    tables: Float[Tensor, "n_heads 2 p width"]  # value rows through W_O and [W_in | W_U], '=' row subtracted
    const: Float[Tensor, " width"]  # [MLP input | direct logits] when all attention is on '='


class TableParts(NamedTuple):
    """``FusedTables`` and the intermediates its hand-written backward reuses (``backward.py``)."""

    tables: FusedTables
    resid: Float[Tensor, "two_p d_model"]  # token + position embeddings at positions 0 and 1
    resid_eq: Float[Tensor, " d_model"]
    q: Float[Tensor, "n_heads d_head"]  # the '=' query
    key_dir: Float[Tensor, "d_model n_heads"]  # scores are resid @ key_dir + key_bias
    vals: Float[Tensor, "n_heads two_p d_head"]  # operand values, '=' value subtracted
    v_eq: Float[Tensor, "n_heads d_head"]
    W_cat: Float[Tensor, "d_model width"]  # [W_in | W_U]
    OW: Float[Tensor, "n_heads d_head width"]  # W_O @ W_cat
    c_in: Float[Tensor, " d_model"]  # the residual when all attention is on '='


def fused_tables(w: Grok1LParams, eq_token: int) -> FusedTables:
    """The per-token tables of the fused step, ``width = d_mlp + d_vocab_out``; autograd flows through."""
    return table_parts(w, eq_token).tables


def table_parts(w: Grok1LParams, eq_token: int) -> TableParts:
    """``fused_tables`` with its intermediates; see ``TableParts``."""
    W_E, W_pos, W_Q, W_K, W_V, W_O = w.W_E, w.W_pos, w.W_Q, w.W_K, w.W_V, w.W_O
    b_Q, b_K, b_V, b_O = w.b_Q, w.b_K, w.b_V, w.b_O
    W_in, W_U = w.W_in, w.W_U
    scale = math.sqrt(W_Q.shape[-1])

    # Plain matmuls rather than einsum here: this runs every step and einsum's dispatch costs more
    # than these small products.
    resid = torch.cat([W_E[:eq_token] + W_pos[0], W_E[:eq_token] + W_pos[1]])  # (2p, d_model)
    resid_eq = W_E[eq_token] + W_pos[2]
    q = resid_eq @ W_Q + b_Q  # (h, k)
    key_dir = (W_K @ q.unsqueeze(-1)).squeeze(-1).T / scale  # (d, h): scores are linear in the residual
    key_bias = (b_K * q).sum(-1) / scale
    scores = einops.rearrange(resid @ key_dir + key_bias, "(s p) h -> s p h", s=2)
    score_eq = resid_eq @ key_dir + key_bias
    vals = resid @ einops.rearrange(W_V, "h d k -> d (h k)") + einops.rearrange(b_V, "h k -> (h k)")
    v_eq = resid_eq @ W_V + b_V  # (h, k)
    vals = einops.rearrange(vals, "sp (h k) -> h sp k", k=W_V.shape[-1]) - v_eq.unsqueeze(1)

    # Softmax weights sum to one, so the '=' value can be folded into the constant term and
    # subtracted from the operand rows: each example then reads two rows per head, not three.
    W_cat = torch.cat([W_in, W_U], dim=1)  # (d_model, d_mlp + d_vocab_out)
    OW = W_O @ W_cat
    tables = einops.rearrange(vals @ OW, "h (s p) m -> h s p m", s=2)
    v_eq_out = einops.rearrange(v_eq, "h k -> (h k)") @ einops.rearrange(W_O, "h k d -> (h k) d")
    c_in = resid_eq + b_O + v_eq_out
    const = c_in @ W_cat + torch.cat([w.b_in, torch.zeros_like(w.b_U)])
    return TableParts(
        FusedTables(scores, score_eq, tables, const), resid, resid_eq, q, key_dir, vals, v_eq, W_cat, OW, c_in
    )


def _logit_map(w: Grok1LParams) -> tuple[Tensor, Tensor]:
    # W_out and W_U folded into one (d_mlp, d_vocab_out) map, and the biases that reach the logits.
    return w.W_out @ w.W_U, w.b_out @ w.W_U + w.b_U


def fused_final_cache(
    w: Grok1LParams, batch: OperandBatch, eq_token: int
) -> tuple[Float[Tensor, "batch n_heads 3"], Float[Tensor, "batch d_mlp"], Float[Tensor, "batch d_vocab_out"]]:
    """``(pattern, mlp_post, logits)`` of ``final_position_cache``, computed by the numba kernels (CPU).

    The per-token work (``fused_tables``) stays in PyTorch autograd; the per-example gather,
    ReLU and their backward run in ``kernels``. Logits and gradients equal
    ``final_position_cache``'s up to float rounding (tested). ``mlp_post`` is a strided view.
    """
    t = fused_tables(w, eq_token)
    d_mlp = w.d_mlp
    hidden, pattern = _FusedGather.apply(t.scores, t.score_eq, t.tables, t.const, batch, d_mlp)
    post = hidden[:, :d_mlp]
    W_L, bias = _logit_map(w)
    return pattern, post, torch.addmm(hidden[:, d_mlp:], post, W_L) + bias


@torch.no_grad()
def fused_final_cache_into(
    w: Grok1LParams,
    batch: OperandBatch,
    eq_token: int,
    *,
    pattern: Float[Tensor, "batch n_heads 3"],
    hidden: Float[Tensor, "batch width"],
    logits: Float[Tensor, "batch d_vocab_out"],
) -> Float[Tensor, "batch d_mlp"]:
    """``fused_final_cache`` without autograd, written into the given (reusable) tensors; returns ``mlp_post``.

    ``mlp_post`` is the strided view ``hidden[:, :d_mlp]``. For analyses that sweep many
    checkpoints: fresh multi-MB outputs cost page faults on every call.
    """
    d_mlp = w.d_mlp
    gather_forward(batch, fused_tables(w, eq_token), d_mlp, hidden=hidden, pattern=pattern)
    W_L, bias = _logit_map(w)
    post = hidden[:, :d_mlp]
    rowwise_addmm(hidden[:, d_mlp:], post, W_L, out=logits).add_(bias)
    return post


ROW_BLOCK = 1024
"""Rows per product in ``rowwise_addmm``: a block's operands (~2.5 MB) stay in cache."""


def rowwise_addmm(
    c: Float[Tensor, "n m"],
    a: Float[Tensor, "n k"],
    b: Float[Tensor, "k m"],
    *,
    out: Float[Tensor, "n m"] | None = None,
) -> Float[Tensor, "n m"]:
    """``c + a @ b`` computed ``ROW_BLOCK`` rows at a time.

    For the tall, narrow products here (thousands of rows, ~100 columns) this beats one ``addmm``
    over all rows: each block's rows of ``a`` and ``c`` are still in cache when BLAS comes back
    for them.
    """
    out = torch.empty(a.shape[0], b.shape[1], dtype=a.dtype) if out is None else out
    for s in range(0, a.shape[0], ROW_BLOCK):
        torch.addmm(c[s : s + ROW_BLOCK], a[s : s + ROW_BLOCK], b, out=out[s : s + ROW_BLOCK])
    return out


def fused_final_logits(w: Grok1LParams, batch: OperandBatch, eq_token: int) -> Float[Tensor, "batch d_vocab_out"]:
    """Logits at the final position via the numba kernels; see ``fused_final_cache``."""
    return fused_final_cache(w, batch, eq_token)[2]
