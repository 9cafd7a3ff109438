"""Numba kernels for the fused final-position step of 1-layer modular models (CPU only).

With the '=' query fixed, an example ``(a, b)`` reaches the MLP and the unembedding through
eight table rows: per head, the value of token ``a`` at position 0 and of ``b`` at position 1,
each already mapped through ``W_O`` and ``[W_in | W_U]`` and weighted by its attention
probability. Gathering and weighting those rows (a few thousand multiply-adds per example)
replaces the ``d_model x d_mlp`` matmuls of the plain forward (~65k per example) and their
backward. PyTorch has no fused gather-weight-accumulate on CPU, and doing it with
``index_select`` and broadcasting costs more in memory traffic than the matmuls it replaces.

Compiled code is cached in ``__pycache__`` (numba's own format, keyed by source and CPU), so only
the first run on a machine pays the compile (``python -m grokscope.precompile`` does it at set-up).

Every loop writes disjoint outputs per iteration (an example's rows in the forward; in the
backward, one token's table rows and the rows of the examples holding that token), so results
do not depend on the thread count or schedule: runs stay bit-identical.

Per example the MLP input and the direct logits are one row, ``hidden = [post | direct]`` of
``width = d_mlp + d_vocab_out``: one pass per head over a contiguous row vectorizes cleanly, where
two outputs with a 97-wide tail ran at a third of the speed. Callers take ``hidden[:, :d_mlp]``
and ``hidden[:, d_mlp:]`` as strided views (BLAS reads them in place).
"""

from typing import no_type_check

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check  # keeps jaxtyping's test-time import hook from wrapping what numba compiles
def fused_forward(a, b, scores, score_eq, tables, const, hidden, pattern, d_mlp):  # pragma: no cover - jitted
    """Attention mix, MLP input and direct path for every example.

    a, b: (N,) int64 operands; scores: (2, p, H) attention scores of the operand positions;
    score_eq: (H,) the '=' position's own score; tables: (H, 2, p, M) value rows mapped to
    [MLP input | logits], with the '=' value already subtracted; const: (M,).
    Writes hidden (N, M), its first d_mlp columns after the ReLU, and pattern (N, H, 3).
    """
    n_ex, n_heads, width = a.shape[0], score_eq.shape[0], const.shape[0]
    zero = np.zeros(1, const.dtype)[0]
    for n in prange(n_ex):
        an, bn = a[n], b[n]
        row = hidden[n]
        for m in range(width):
            row[m] = const[m]
        for h in range(n_heads):
            x0, x1, x2 = scores[0, an, h], scores[1, bn, h], score_eq[h]
            top = max(x0, max(x1, x2))
            e0, e1, e2 = np.exp(x0 - top), np.exp(x1 - top), np.exp(x2 - top)
            z = e0 + e1 + e2
            w0, w1 = e0 / z, e1 / z
            pattern[n, h, 0], pattern[n, h, 1], pattern[n, h, 2] = w0, w1, e2 / z
            t0, t1 = tables[h, 0, an], tables[h, 1, bn]
            for m in range(width):
                row[m] += w0 * t0[m] + w1 * t1[m]
        for m in range(d_mlp):
            row[m] = max(row[m], zero)


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def fused_backward_first(
    b,
    rows_ptr,
    rows_idx,
    tables,
    pattern,
    hidden,
    grad,
    grad_scores,
    grad_tables,
    grad_table_scores,
    part_const,
    part_score_eq,
    d_mlp,
):  # pragma: no cover
    """The backward through the gather, one job per token ``a`` at position 0.

    grad (N, M) comes in holding the gradient at ``hidden`` before the ReLU's mask and leaves
    with the mask applied (in place). Per example (taken grouped by its first operand, from the
    CSR lists rows_ptr/rows_idx) it writes the gradient at the three scores to grad_scores
    (N, H, 3). The group's sums go straight into the position-0 rows of grad_tables (H, 2, p, M)
    and grad_table_scores (2, p, H), and its plain sums into part_const (p, M) and part_score_eq
    (p, H); summing those over tokens gives the gradients of the constant row and the '=' score.
    Grouping by token means each job writes only its own rows and reads its position-0 table
    rows from cache. The four accumulators must come in zeroed.
    """
    n_heads, width = pattern.shape[1], tables.shape[3]
    n_tok = rows_ptr.shape[1] - 1
    zero = np.zeros(1, tables.dtype)[0]  # accumulate in the tables' precision (float32 SIMD is 2x wider)
    for an in prange(n_tok):
        gtab_s = grad_table_scores[0, an]
        gsum = part_const[an]
        geq = part_score_eq[an]
        for j in range(rows_ptr[0, an], rows_ptr[0, an + 1]):
            n = rows_idx[0, j]
            bn = b[n]
            g, hr = grad[n], hidden[n]
            for m in range(d_mlp):
                g[m] = g[m] if hr[m] > 0 else zero
            for m in range(width):
                gsum[m] += g[m]
            for h in range(n_heads):
                t0, t1, gt = tables[h, 0, an], tables[h, 1, bn], grad_tables[h, 0, an]
                p0, p1, p2 = pattern[n, h, 0], pattern[n, h, 1], pattern[n, h, 2]
                d0 = zero
                d1 = zero
                for m in range(width):
                    gm = g[m]
                    d0 += gm * t0[m]
                    d1 += gm * t1[m]
                    gt[m] += p0 * gm
                # softmax backward; the '=' row contributes nothing since it was subtracted from the tables
                mean = p0 * d0 + p1 * d1
                grad_scores[n, h, 0] = p0 * (d0 - mean)
                grad_scores[n, h, 1] = p1 * (d1 - mean)
                grad_scores[n, h, 2] = -p2 * mean
                gtab_s[h] += grad_scores[n, h, 0]
                geq[h] += grad_scores[n, h, 2]


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def fused_backward_second(
    pattern, grad, grad_scores, rows_ptr, rows_idx, grad_tables, grad_table_scores
):  # pragma: no cover
    """The position-1 rows of grad_tables and grad_table_scores, one job per token ``b``.

    Reads grad and grad_scores as ``fused_backward_first`` wrote them; the position-1 rows of
    the accumulators must come in zeroed.
    """
    n_heads, _, n_tok, width = grad_tables.shape
    for tok in prange(n_tok):
        gtab_s = grad_table_scores[1, tok]
        for j in range(rows_ptr[1, tok], rows_ptr[1, tok + 1]):
            n = rows_idx[1, j]
            g = grad[n]
            for h in range(n_heads):
                w = pattern[n, h, 1]
                gtab_s[h] += grad_scores[n, h, 1]
                gt = grad_tables[h, 1, tok]
                for m in range(width):
                    gt[m] += w * g[m]
