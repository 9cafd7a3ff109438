"""The trainer's CPU step: loss, logits and gradients with the backward written by hand."""

import pytest
import torch

from grokscope.models.build import build_model
from grokscope.models.grok1l.fused import OperandBatch, fused_available
from grokscope.tasks import ModularTask
from grokscope.models.grok1l.backward import fused_loss_and_grad
from tests.conftest import random_float64_model

pytestmark = pytest.mark.skipif(not fused_available("cpu"), reason="numba not installed")


@pytest.mark.parametrize("p, n_examples", [(13, 60), (17, None)])
def test_hand_written_gradients_equal_hooked_transformer_float64(p, n_examples):
    # The trainer's CPU step: loss, logits and every parameter's gradient, backward written by hand.
    task, model = random_float64_model(p, seed=4)
    data = task.dataset()
    pick = torch.randperm(len(data.a), generator=torch.Generator().manual_seed(1))[:n_examples]
    a, b, tokens, labels = data.a[pick], data.b[pick], data.tokens()[pick], data.labels[pick]
    params = dict(model.named_parameters())
    ref_logits = model(tokens)[:, -1]
    ref_loss = torch.nn.functional.cross_entropy(ref_logits, labels)
    ref_loss.backward()
    ref = {k: v.grad.clone() for k, v in params.items()}
    for v in params.values():
        v.grad = torch.full_like(v, 7.0)  # replaced, not accumulated into
    loss, logits = fused_loss_and_grad(params, OperandBatch(a, b, task.p), labels, task.eq_token)
    torch.testing.assert_close(loss, ref_loss.detach(), atol=0, rtol=1e-12)
    torch.testing.assert_close(logits, ref_logits.detach(), atol=1e-9, rtol=1e-9)
    # b_K's true gradient is zero (softmax ignores a shift), so compare on the overall scale too.
    scale = max(g.abs().max().item() for g in ref.values())
    for k, v in params.items():
        assert v.grad.shape == v.shape and v.grad.is_contiguous(), k
        torch.testing.assert_close(v.grad, ref[k], atol=1e-12 * scale, rtol=1e-7, msg=k)


def test_hand_written_gradients_skip_frozen_parameters():
    task, model = random_float64_model(11, seed=5)
    data = task.dataset()
    params = dict(model.named_parameters())
    params["blocks.0.attn.b_O"].requires_grad_(False)
    fused_loss_and_grad(params, OperandBatch(data.a, data.b, task.p), data.labels, task.eq_token)
    assert params["blocks.0.attn.b_O"].grad is None
    assert params["blocks.0.attn.W_O"].grad is not None


def test_hand_written_gradients_in_float32_match_float64():
    # The float32 kernels (what training runs) against the float64 reference, at p = 97. A ReLU
    # input that rounds to 0 in one precision and not the other moves that neuron's gradient by a
    # whole example's share (seen: one such kink among 1.4M inputs moved b_in by 2e-3 of its
    # largest entry), so the bound is that share, far below what a wrong term would give.
    task = ModularTask(p=97)
    model = build_model("grok1l", task, seed=6)
    data = task.dataset()
    a, b, tokens, labels = (t[data.train_idx] for t in (data.a, data.b, data.tokens(), data.labels))
    params = dict(model.named_parameters())
    loss, logits = fused_loss_and_grad(params, OperandBatch(a, b, task.p), labels, task.eq_token)
    ours = {k: v.grad.double() for k, v in params.items()}
    model64 = build_model("grok1l", task, seed=6).to(torch.float64, print_details=False)
    ref_logits = model64(tokens)[:, -1]
    ref_loss = torch.nn.functional.cross_entropy(ref_logits, labels)
    ref_loss.backward()
    torch.testing.assert_close(loss, ref_loss.detach(), atol=0, rtol=1e-6)
    torch.testing.assert_close(logits.double(), ref_logits.detach(), atol=1e-5, rtol=0)
    scale = max(v.grad.abs().max().item() for v in model64.parameters())
    for k, v in model64.named_parameters():
        own = v.grad.abs().max().item()  # b_K's is 0 up to rounding: the global scale bounds it
        torch.testing.assert_close(ours[k], v.grad, atol=3e-3 * own + 1e-6 * scale, rtol=0, msg=k)
