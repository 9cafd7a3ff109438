"""Numba kernel of the fused training step's cross-entropy (CPU, float32).

The same margin form as :func:`grokscope.numerics.cross_entropy.cross_entropy_and_grad` (exact
for the ~1e-8 losses of a grokked model), in one pass per row instead of about fifteen PyTorch
passes over the logits, each of which reads (and most of which write) a full logits-sized tensor.
The gradient goes straight into the row buffer that the backward reads (``[grad at post | grad at
the logits]``), so no separate gradient tensor is allocated, filled and then copied there.

Each row writes only its own outputs, so results do not depend on the thread schedule.
"""

from typing import no_type_check

import numpy as np
from numba import njit, prange

from grokscope.numerics.margin_softmax import MINUS_BIG, margin_loss, margin_terms

ROW_BLOCK = 32  # rows per parallel task: the scratch rows are allocated once per block


@njit(parallel=True, fastmath=True, cache=True)
@no_type_check
def margin_cross_entropy(logits, labels, grad, offset, losses):  # pragma: no cover - jitted
    """Per-row cross-entropy (float64) and its gradient with respect to the logits (mean over rows).

    logits: (N, V) float32, finite; labels: (N,) int64; grad: (N, W) float32 with
    ``W >= offset + V``, whose columns ``offset:offset + V`` receive the gradient; losses: (N,)
    float64. With ``d_j = l_j - l_y`` and ``m = max(0, max_{j != y} d_j)``: the loss is
    ``log1p(sum_{j != y} e^{d_j})`` when ``m = 0``, else ``m + log(e^-m + sum_{j != y} e^{d_j - m})``;
    the correct class's gradient is ``-sum_{j != y} p_j / N`` (no cancellation).
    """
    n_rows, n_out = logits.shape
    inv_n = np.float32(1.0) / np.float32(n_rows)
    n_blocks = (n_rows + ROW_BLOCK - 1) // ROW_BLOCK
    for blk in prange(n_blocks):
        e = np.empty(n_out, np.float32)
        bits = np.empty(n_out, np.int32)
        for x in range(blk * ROW_BLOCK, min((blk + 1) * ROW_BLOCK, n_rows)):
            v = logits[x]
            y = labels[x]
            top = MINUS_BIG
            for j in range(n_out):  # whole-row loops with selects: split at y, their tails ran scalar
                top = max(top, v[j] if j != y else MINUS_BIG)
            m, rest, own = margin_terms(v, y, top, e, bits)
            losses[x] = margin_loss(m, rest, own)
            z = np.float32(own) + rest
            c = inv_n / z
            g = grad[x, offset : offset + n_out]
            for j in range(n_out):
                g[j] = e[j] * c
            g[y] = -rest * c
