"""The margin cross-entropy's pieces for numba kernels, with an exp that vectorizes (float32).

numba's ``math.exp`` calls libm one lane at a time (llvmlite from PyPI has no SVML), which made
numba cross-entropies slower than PyTorch's. ``exp_parts`` is a Cephes-style polynomial times
``2^k`` built from its bits; its argument must lie in ``[EXP_FLOOR, 0]``, where its relative
error is below 3e-7 (tested against float64). Below ``e^-80`` a term of a softmax cannot matter
next to the ``e^0`` of its largest logit, so callers clamp there.

The cross-entropy is taken around the margins ``d_j = l_j - l_y`` (see
:mod:`grokscope.numerics.cross_entropy`), which keeps the ~1e-8 losses of a grokked model exact
in float32.
"""

import math
from typing import no_type_check

import numpy as np
from numba import njit

EXP_FLOOR = np.float32(-80.0)
MINUS_BIG = np.float32(-3.0e38)  # "minus infinity" that fastmath may assume finite


@njit(inline="always", fastmath=True)
@no_type_check
def exp_parts(x):  # pragma: no cover - jitted
    """``exp(x) = poly * 2^k`` for ``x`` in ``[-80, 0]``: Cody-Waite reduction, degree-7 polynomial.

    Returns ``poly`` and the float32 bit pattern of ``2^k``, to be read through a float view:
    building ``2^k`` from bits (an integer add and shift per lane) keeps the loop free of table
    lookups, which would need a gather per lane where the polynomial is plain vector arithmetic.
    """
    k = math.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    r = x - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + np.float32(1.0)
    return p, (np.int32(k) + np.int32(127)) << np.int32(23)


@njit(fastmath=True, cache=True)
@no_type_check
def exp_neg(x, out):  # pragma: no cover - jitted
    """``out = exp(max(x, -80))`` for float32 ``x <= 0``, as the kernels compute it (for tests)."""
    bits = np.empty(x.shape[0], np.int32)
    for i in range(x.shape[0]):
        out[i], bits[i] = exp_parts(max(x[i], EXP_FLOOR))
    scale = bits.view(np.float32)
    for i in range(x.shape[0]):
        out[i] *= scale[i]


@njit(inline="always", fastmath=True)
@no_type_check
def margin_terms(v, y, top, e, bits):  # pragma: no cover - jitted
    """``(m, rest, own)`` of logit row ``v`` with label ``y``, whose largest other logit is ``top``.

    ``m = max(top - v[y], 0)``; writes ``e[j] = exp(v[j] - v[y] - m)`` for ``j != y`` and 0 at
    ``y`` (float32 scratch row; ``bits`` an int32 one), and returns their sum as ``rest`` and the
    label's own term ``exp(-m)`` (float64). The softmax is ``e / (own + rest)`` off the label.
    """
    # Whole-row loops with selects, not loops split at y: their ragged tails ran scalar.
    ly = v[y]
    m = max(top - ly, np.float32(0.0))
    shift = ly + m
    for j in range(v.shape[0]):
        e[j], bits[j] = exp_parts(max(v[j] - shift, EXP_FLOOR))
    scale = bits.view(np.float32)
    rest = np.float32(0.0)
    for j in range(v.shape[0]):
        term = e[j] * scale[j] if j != y else np.float32(0.0)
        e[j] = term
        rest += term
    own = np.float64(1.0) if m == 0 else math.exp(-np.float64(m))
    return m, rest, own


@njit(inline="always", fastmath=True)
@no_type_check
def margin_loss(m, rest, own):  # pragma: no cover - jitted
    """The cross-entropy from ``margin_terms``, in float64: ``log1p`` keeps tiny losses exact."""
    if m == 0:
        return math.log1p(np.float64(rest))
    return np.float64(m) + math.log(own + np.float64(rest))
