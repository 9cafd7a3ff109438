"""The training step's numba cross-entropy against float64 PyTorch, and its fallback."""

import math

import pytest
import torch
import torch.nn.functional as F

from grokscope.models.grok1l.paths import fused_available

pytestmark = [
    pytest.mark.skipif(not fused_available("cpu"), reason="numba not installed"),
    pytest.mark.tl_independent,  # checked in the 3.x pass: see tests/conftest.py
]


def _kernel(logits: torch.Tensor, labels: torch.Tensor, offset: int = 7) -> tuple[float, torch.Tensor, torch.Tensor]:
    from grokscope.numerics.cross_entropy_kernel import margin_cross_entropy

    grad = torch.full((len(labels), offset + logits.shape[1] + 3), 5.0)  # sentinel outside the written columns
    losses = torch.empty(len(labels), dtype=torch.float64)
    margin_cross_entropy(logits.numpy(), labels.numpy(), grad.numpy(), offset, losses.numpy())
    return losses.mean().item(), grad[:, offset : offset + logits.shape[1]].double(), grad


def _reference(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    ref_in = logits.double().requires_grad_()
    loss = F.cross_entropy(ref_in, labels)
    loss.backward()
    return loss.item(), ref_in.grad


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0, 60.0])
def test_equals_float64_cross_entropy(scale):
    gen = torch.Generator().manual_seed(int(scale * 10))
    logits = torch.randn(300, 97, generator=gen) * scale
    labels = torch.randint(0, 97, (300,), generator=gen)
    ours, g_ours, grad = _kernel(logits, labels)
    ref, g_ref = _reference(logits, labels)
    assert ours == pytest.approx(ref, rel=1e-6)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-6 * g_ref.abs().max().item(), rtol=1e-5)
    assert (grad[:, :7] == 5.0).all() and (grad[:, 7 + 97 :] == 5.0).all()  # only its own columns


def test_tiny_losses_keep_their_relative_precision():
    # A grokked model: the correct class wins by ~20, loss ~1e-8 per row, where float32
    # log_softmax rounds the loss and the correct class's gradient to 0.
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 97, (300,), generator=gen)
    logits = torch.randn(300, 97, generator=gen)
    logits[torch.arange(300), labels] += 20.0
    ours, g_ours, _ = _kernel(logits, labels)
    ref, g_ref = _reference(logits, labels)
    assert 1e-10 < ref < 1e-6
    assert ours == pytest.approx(ref, rel=1e-5)
    own = g_ref[torch.arange(300), labels]
    torch.testing.assert_close(g_ours[torch.arange(300), labels], own, rtol=1e-5, atol=0)
    assert (g_ours.sum(-1).abs() <= 1e-5 * own.abs()).all()


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_non_finite_logits_take_the_pytorch_route(bad):
    # fastmath code may assume finite inputs; a diverged run must show its inf/nan loss instead.
    from grokscope.models.grok1l.backward import _cross_entropy_into

    logits = torch.randn(4, 5)
    logits[1, 2] = bad
    grad = torch.zeros(4, 8)
    loss = _cross_entropy_into(logits, torch.tensor([0, 1, 2, 3]), grad, 3)
    assert not math.isfinite(loss.item())


def test_finite_logits_whose_sum_overflows_still_get_their_loss():
    # The finiteness check is one sum; a finite overflow sends the batch to PyTorch, which is exact.
    from grokscope.models.grok1l.backward import _cross_entropy_into

    logits = torch.zeros(4, 5)
    logits[:, 0] = 3e38  # every row's label 0 wins by far: the loss is 0
    labels = torch.zeros(4, dtype=torch.long)
    assert not math.isfinite(logits.sum().item())
    grad = torch.full((4, 8), 5.0)
    loss = _cross_entropy_into(logits, labels, grad, 3)
    assert loss.item() == 0.0
    assert (grad[:, 3:] == 0).all() and (grad[:, :3] == 5.0).all()
