"""Numba kernels of the progress measures (CPU): the losses in one pass, the neurons' transform.

``logit_losses``: one pass over a checkpoint's grid logits for every cross-entropy the progress
measures take.

Per checkpoint the measures need eight cross-entropies over rows of ``p^2`` logits (train and
test loss, restricted loss, excluded loss and one excluded loss per key frequency) and two
accuracies. In PyTorch each is a chain of ~7 full passes over its own materialized logits
(differences to the label, a scatter, a max, a subtraction, a clamp, an exp, a sum), after the
restricted and excluded logits themselves were written out as full ``(p^2, p)`` tensors: some
sixty passes over memory per checkpoint. Here every row of logits is read once; the restricted
and excluded rows are built in a one-row buffer (``p`` floats, in cache) from ``U_key[:, x]`` and
the key coefficients, and each cross-entropy is two vectorized sweeps over that buffer.

The exp is :func:`grokscope.numerics.margin_softmax.exp_parts`, a polynomial that vectorizes:
numba's own would call libm one lane at a time and made a numba cross-entropy slower than
PyTorch's.

Each row writes only its own outputs, so results are independent of the thread schedule.
"""

from typing import no_type_check

import numpy as np
from numba import njit, prange

from grokscope.numerics.margin_softmax import MINUS_BIG, margin_loss, margin_terms

ROW_BLOCK = 32  # rows per parallel task: scratch buffers are allocated once per block


@njit(inline="always", fastmath=True)
@no_type_check
def _cross_entropy(v, y, poly, bits):  # pragma: no cover - jitted
    """``(loss, hit)`` of one logit row ``v`` with label ``y``, as :func:`.progress_measures.cross_entropy` does.

    ``poly`` (float32) and ``bits`` (int32) are scratch rows as long as ``v``.

    ``hit`` follows ``argmax`` (first maximum wins): ``v[y]`` beats every earlier entry and ties
    no later one.
    """
    # Whole-row loops with selects, not loops split at y: their ragged tails ran scalar.
    ly = v[y]
    lo = MINUS_BIG
    hi = MINUS_BIG
    for j in range(v.shape[0]):
        lo = max(lo, v[j] if j < y else MINUS_BIG)
        hi = max(hi, v[j] if j > y else MINUS_BIG)
    m, rest, own = margin_terms(v, y, max(lo, hi), poly, bits)
    loss = margin_loss(m, rest, own)
    return loss, ly > lo and ly >= hi


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def logit_losses(L, labels, train, U, coef, adj, losses, hits):  # pragma: no cover - jitted
    """Per-row cross-entropies and hits of the logits and of their restricted/excluded parts.

    L: (C, N, O) float32 logits of C checkpoints on the N = p^2 grid rows; labels: (N,) int64;
    train: (N,) bool, the training rows; U: (D, N) the key sum directions (D = 2 per key
    frequency); coef: (C, D, O) the logits' coefficients on them; adj: (C, O) the restricted
    logits' mean correction. Writes losses (C, N, 3 + D // 2) float64 as [logits, restricted,
    excluded, excluded without key 1, ...] (the excluded columns on training rows only) and hits
    (C, N, 2) as [logits, restricted].
    """
    n_ckpt, n_rows, n_out = L.shape
    n_dirs = U.shape[0]
    n_blocks = (n_ckpt * n_rows + ROW_BLOCK - 1) // ROW_BLOCK
    for blk in prange(n_blocks):
        kept = np.empty(n_out, np.float32)
        buf = np.empty(n_out, np.float32)
        poly = np.empty(n_out, np.float32)
        bits = np.empty(n_out, np.int32)
        for t in range(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n_ckpt * n_rows)):
            c, x = t // n_rows, t % n_rows
            y = labels[x]
            row = L[c, x]
            loss, hit = _cross_entropy(row, y, poly, bits)
            losses[c, x, 0], hits[c, x, 0] = loss, hit
            for o in range(n_out):
                kept[o] = np.float32(0.0)
            for d in range(n_dirs):
                u = U[d, x]
                for o in range(n_out):
                    kept[o] += u * coef[c, d, o]
            for o in range(n_out):
                buf[o] = kept[o] + adj[c, o]
            loss, hit = _cross_entropy(buf, y, poly, bits)
            losses[c, x, 1], hits[c, x, 1] = loss, hit
            if not train[x]:
                continue
            for o in range(n_out):
                buf[o] = row[o] - kept[o]
            losses[c, x, 2] = _cross_entropy(buf, y, poly, bits)[0]
            for k in range(n_dirs // 2):
                u0, u1 = U[2 * k, x], U[2 * k + 1, x]
                for o in range(n_out):
                    buf[o] = row[o] - (u0 * coef[c, 2 * k, o] + u1 * coef[c, 2 * k + 1, o])
                losses[c, x, 3 + k] = _cross_entropy(buf, y, poly, bits)[0]


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def even_odd(x, p, n, e, o):  # pragma: no cover - jitted
    """Per grid row block ``a``: sums and differences of columns ``b = j`` and ``b = p - j``.

    x: (B * p * p, s) float32, rows ``(batch, a, b)`` a-major, the first ``n`` columns used (a
    strided view of ``[post | direct]`` reads in place). Writes e: (B * p, h + 1, n) with
    ``e[:, 0] = x[b=0]`` and ``e[:, j] = x[b=j] + x[b=p-j]``, and o: (B * p, h, n) with
    ``o[:, j-1] = x[b=j] - x[b=p-j]``, h = (p - 1) / 2. One pass over x.
    """
    h = (p - 1) // 2
    for blk in prange(e.shape[0]):
        base = blk * p
        out_e = e[blk, 0]
        r0 = x[base]
        for m in range(n):
            out_e[m] = r0[m]
        for j in range(1, h + 1):
            r1, r2 = x[base + j], x[base + p - j]
            out_e, out_o = e[blk, j], o[blk, j - 1]
            for m in range(n):
                u, v = r1[m], r2[m]
                out_e[m] = u + v
                out_o[m] = u - v


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def fold_a(Y, rows, f0, zsq, energy):  # pragma: no cover - jitted
    """The second transform's few needed components and the energy, in one pass over ``Y``.

    Y: (B, p, F, n) float32, neurons transformed along b (rows f); rows: (K, 3, p) F's rows
    ``[0, 2k-1, 2k]`` for k = 1..K. For f >= f0, with k = f - f0: writes
    ``zsq[:, k] = sum_g (sum_a rows[k, g, a] Y[:, a, f])^2`` (B, F - f0, n); for every f,
    ``energy[:, f] = sum_a Y[:, a, f]^2`` in float64 (B, F, n).
    """
    n_batch, p, n_f, n = Y.shape
    for t in prange(n_batch * n_f):
        i, f = t // n_f, t % n_f
        en = energy[i, f]
        for m in range(n):
            en[m] = 0.0
        if f < f0:
            for a in range(p):
                row = Y[i, a, f]
                for m in range(n):
                    v = np.float64(row[m])
                    en[m] += v * v
            continue
        k = f - f0
        z0, z1, z2 = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
        for a in range(p):
            row = Y[i, a, f]
            c0, c1, c2 = rows[k, 0, a], rows[k, 1, a], rows[k, 2, a]
            for m in range(n):
                v = row[m]
                z0[m] += c0 * v
                z1[m] += c1 * v
                z2[m] += c2 * v
                w = np.float64(v)
                en[m] += w * w
        out = zsq[i, k]
        for m in range(n):
            out[m] = z0[m] * z0[m] + z1[m] * z1[m] + z2[m] * z2[m]
