"""The margin cross-entropy equals float64 cross-entropy, also where float32 log_softmax fails."""

import pytest
import torch
import torch.nn.functional as F

from grokscope.numerics.cross_entropy import cross_entropy

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def _both(logits: torch.Tensor, labels: torch.Tensor):
    ours_in = logits.clone().requires_grad_()
    ref_in = logits.double().requires_grad_()
    ours, ref = cross_entropy(ours_in, labels), F.cross_entropy(ref_in, labels)
    ours.backward()
    ref.backward()
    return ours, ref, ours_in.grad.double(), ref_in.grad


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 60.0])
def test_equals_float64_cross_entropy(scale):
    gen = torch.Generator().manual_seed(int(scale * 10))
    logits = torch.randn(500, 31, generator=gen) * scale
    labels = torch.randint(0, 31, (500,), generator=gen)
    ours, ref, g_ours, g_ref = _both(logits, labels)
    assert ours.dtype == torch.float64
    assert abs(ours.item() - ref.item()) <= 1e-6 * ref.item()
    torch.testing.assert_close(g_ours, g_ref, atol=1e-6 * g_ref.abs().max().item(), rtol=1e-5)


def test_tiny_losses_keep_their_relative_precision():
    # A grokked model: the correct class wins by ~16, loss ~1e-7 per row. float32 log_softmax
    # rounds these to 0 and zeroes the correct class's gradient; ours must not.
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 97, (300,), generator=gen)
    logits = torch.randn(300, 97, generator=gen)
    logits[torch.arange(300), labels] += 20.0
    ours, ref, g_ours, g_ref = _both(logits, labels)
    assert 1e-9 < ref.item() < 1e-5
    assert F.cross_entropy(logits, labels).item() != pytest.approx(ref.item(), rel=1e-3)  # float32 fails
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    own = g_ref[torch.arange(300), labels]
    torch.testing.assert_close(g_ours[torch.arange(300), labels], own, rtol=1e-5, atol=0)
    # Each row's gradient sums to zero relative to its own size.
    assert (g_ours.sum(-1).abs() <= 1e-5 * own.abs()).all()


def test_gradient_scales_with_the_upstream_gradient():
    logits = torch.randn(8, 5, requires_grad=True)
    labels = torch.arange(8) % 5
    (3.0 * cross_entropy(logits, labels)).backward()
    ref_in = logits.detach().double().requires_grad_()
    (3.0 * F.cross_entropy(ref_in, labels)).backward()
    torch.testing.assert_close(logits.grad.double(), ref_in.grad, atol=1e-6, rtol=1e-5)
