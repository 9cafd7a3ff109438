"""Numba kernels for the fused final-position step of 1-layer modular models (CPU only).

With the '=' query fixed, an example ``(a, b)`` reaches the MLP and the unembedding through
eight table rows: per head, the value of token ``a`` at position 0 and of ``b`` at position 1,
each already mapped through ``W_O`` and ``[W_in | W_U]`` and weighted by its attention
probability. Gathering and weighting those rows (a few thousand multiply-adds per example)
replaces the ``d_model x d_mlp`` matmuls of the plain forward (~65k per example) and their
backward. PyTorch has no fused gather-weight-accumulate on CPU, and doing it with
``index_select`` and broadcasting costs more in memory traffic than the matmuls it replaces.

Compiled code is cached in ``__pycache__`` (numba's own format, keyed by source and CPU), so only
the first run on a machine pays the ~5 s compile.

Every loop writes disjoint outputs per iteration (examples in the forward, table rows in the
backward), so results do not depend on the thread count or schedule: runs stay bit-identical.
"""

from typing import no_type_check

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check  # keeps jaxtyping's test-time import hook from wrapping what numba compiles
def fused_forward(a, b, scores, score_eq, tables, const, post, direct, pattern):  # pragma: no cover - jitted
    """Attention mix, MLP input and direct path for every example.

    a, b: (N,) int64 operands; scores: (2, p, H) attention scores of the operand positions;
    score_eq: (H,) the '=' position's own score; tables: (H, 2, p, M) value rows mapped to
    [MLP input | logits], with the '=' value already subtracted; const: (M,).
    Writes post (N, d_mlp) after ReLU, direct (N, M - d_mlp) and pattern (N, H, 3).
    """
    n_ex, n_heads, d_mlp = a.shape[0], score_eq.shape[0], post.shape[1]
    width = const.shape[0]
    zero = np.zeros(1, const.dtype)[0]
    for n in prange(n_ex):
        an, bn = a[n], b[n]
        for m in range(d_mlp):
            post[n, m] = const[m]
        for m in range(d_mlp, width):
            direct[n, m - d_mlp] = const[m]
        for h in range(n_heads):
            x0, x1, x2 = scores[0, an, h], scores[1, bn, h], score_eq[h]
            top = max(x0, max(x1, x2))
            e0, e1, e2 = np.exp(x0 - top), np.exp(x1 - top), np.exp(x2 - top)
            z = e0 + e1 + e2
            w0, w1 = e0 / z, e1 / z
            pattern[n, h, 0], pattern[n, h, 1], pattern[n, h, 2] = w0, w1, e2 / z
            for m in range(d_mlp):
                post[n, m] += w0 * tables[h, 0, an, m] + w1 * tables[h, 1, bn, m]
            for m in range(d_mlp, width):
                direct[n, m - d_mlp] += w0 * tables[h, 0, an, m] + w1 * tables[h, 1, bn, m]
        for m in range(d_mlp):
            post[n, m] = max(post[n, m], zero)


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def fused_backward_examples(a, b, tables, pattern, post, grad_post, grad_direct, grad, grad_scores):  # pragma: no cover
    """Per example: the gradient at [MLP input | logits] (ReLU applied) and at the three scores.

    Writes grad (N, M) and grad_scores (N, H, 3).
    """
    n_ex, n_heads, _ = pattern.shape
    d_mlp, width = post.shape[1], tables.shape[3]
    zero = np.zeros(1, tables.dtype)[0]  # accumulate in the tables' precision (float32 SIMD is 2x wider)
    for n in prange(n_ex):
        an, bn = a[n], b[n]
        for m in range(d_mlp):
            grad[n, m] = grad_post[n, m] if post[n, m] > 0 else zero
        for m in range(d_mlp, width):
            grad[n, m] = grad_direct[n, m - d_mlp]
        for h in range(n_heads):
            d0 = zero
            d1 = zero
            for m in range(width):
                d0 += grad[n, m] * tables[h, 0, an, m]
                d1 += grad[n, m] * tables[h, 1, bn, m]
            p0, p1, p2 = pattern[n, h, 0], pattern[n, h, 1], pattern[n, h, 2]
            # softmax backward; the '=' row contributes nothing since it was subtracted from the tables
            mean = p0 * d0 + p1 * d1
            grad_scores[n, h, 0] = p0 * (d0 - mean)
            grad_scores[n, h, 1] = p1 * (d1 - mean)
            grad_scores[n, h, 2] = -p2 * mean


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def fused_backward_tables(pattern, grad, grad_scores, rows_ptr, rows_idx, grad_tables, grad_table_scores):  # pragma: no cover
    """Per (position, token): sum the gradients of the examples that read that table row.

    rows_ptr (2, p + 1) and rows_idx (2, N) list, for each position and token, the examples
    holding that token there (CSR). Writes grad_tables (H, 2, p, M), grad_table_scores (2, p, H).
    """
    n_heads, n_pos, n_tok, width = grad_tables.shape
    for job in prange(n_pos * n_tok):
        s, tok = job // n_tok, job % n_tok
        grad_tables[:, s, tok] = 0.0
        grad_table_scores[s, tok] = 0.0
        for j in range(rows_ptr[s, tok], rows_ptr[s, tok + 1]):
            n = rows_idx[s, j]
            for h in range(n_heads):
                w = pattern[n, h, s]
                grad_table_scores[s, tok, h] += grad_scores[n, h, s]
                for m in range(width):
                    grad_tables[h, s, tok, m] += w * grad[n, m]
