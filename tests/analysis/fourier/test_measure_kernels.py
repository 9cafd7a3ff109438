"""The analysis's numba kernels against float64 PyTorch: exp, the one-pass losses, the even/odd transform."""

import numpy as np
import pytest
import torch

from grokscope.analysis.fourier.basis import neuron_frequencies, neuron_frequencies_2d, sum_directions
from grokscope.analysis.fourier.progress_measures import _fused_losses, _fused_losses_apply, logit_losses
from grokscope.numerics.margin_softmax import exp_neg
from grokscope.numerics.workspace import Workspace

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_exp_is_float32_accurate_over_its_range():
    x = np.linspace(-80.0, 0.0, 400_001, dtype=np.float32)
    out = np.empty_like(x)
    exp_neg(x, out)
    ref = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - ref) / ref) < 3e-7
    below = np.array([-81.0, -200.0], dtype=np.float32)  # clamped at e^-80, as progress.cross_entropy does
    exp_neg(below, out[:2])
    np.testing.assert_allclose(out[:2], np.exp(-80.0), rtol=3e-7)


def _grid_logits(kind: str, p: int = 23, c: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits on the ``p^2`` grid and labels ``(a + b) % p``: random, nearly perfect (tiny losses), or tied."""
    gen = torch.Generator().manual_seed(5)
    n = p * p
    labels = (torch.arange(n) // p + torch.arange(n) % p) % p
    if kind == "random":
        L = 4 * torch.randn(c, n, p, generator=gen)
    elif kind == "confident":  # the true class wins by ~18-25 nats: losses of 1e-8 and below
        L = torch.randn(c, n, p, generator=gen)
        L[:, torch.arange(n), labels] += 18 + 7 * torch.rand(c, n, generator=gen)
    else:  # ties everywhere: argmax takes the first maximum, so only label 0 counts as a hit
        L = torch.zeros(c, n, p)
        L[:, :, 3] = -1.0
    return L, labels


@pytest.mark.parametrize("kind", ["random", "confident", "tied"])
def test_one_pass_losses_equal_the_float64_pytorch_ones(kind):
    p = 23
    L, labels = _grid_logits(kind, p)
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(1))
    train_idx, test_idx = perm[:150].sort().values, perm[150:].sort().values
    U = sum_directions(p, [2, 5, 9], dtype=torch.float32)
    coef = torch.einsum("dx,cxo->cdo", U, L)
    assert _fused_losses_apply(L, coef)
    fused = _fused_losses(L, labels, train_idx, test_idx, U, coef)
    ref = logit_losses(L.double(), labels, train_idx, test_idx, U.double(), coef.double())
    assert fused.keys() == ref.keys()
    for name in ref:
        assert fused[name].dtype == torch.float64, name
        torch.testing.assert_close(fused[name], ref[name], rtol=2e-6, atol=1e-12, msg=name)
    if kind == "confident":  # the tiny losses are resolved, not rounded to 0
        assert 0 < ref["train_loss"].max() < 1e-6
    if kind == "tied":
        torch.testing.assert_close(fused["test_acc"], (labels[test_idx] == 0).double().mean().expand(2))


def test_non_finite_logits_take_the_pytorch_route():
    p = 11
    L, _ = _grid_logits("random", p, c=1)
    L[0, 5, 2] = float("nan")
    U = sum_directions(p, [1], dtype=torch.float32)
    assert not _fused_losses_apply(L, torch.einsum("dx,cxo->cdo", U, L))


@pytest.mark.parametrize("strided", [False, True])
def test_even_odd_neuron_transform_equals_the_full_2d_one_in_float32(strided):
    p, n = 29, 40
    gen = torch.Generator().manual_seed(2)
    if strided:  # the analysis's own layout: post is the first columns of [post | direct] rows
        hidden = torch.randn(p * p, n + p, generator=gen).relu_()
        acts = hidden[:, :n].view(1, p, p, n)
    else:
        acts = torch.randn(3, p, p, n, generator=gen).relu_() + 2.0  # a large mean: centring matters
    ours = neuron_frequencies(acts, workspace=Workspace())
    ref = neuron_frequencies_2d(acts.double())
    torch.testing.assert_close(ours.fve.double(), ref.fve, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.variance.double(), ref.variance, rtol=1e-5, atol=0)
    # the float64 route (PyTorch ops, no kernels) gives the same numbers to float64 rounding
    torch.testing.assert_close(neuron_frequencies(acts.double()).fve, ref.fve, atol=1e-12, rtol=0)
