"""The numba-fused training forward equals HookedTransformer's, in values and gradients."""

import pytest
import torch

from grokscope.models.build import build_model
from grokscope.models.grok1l.fused import (OperandBatch, final_position_cache, fused_available, fused_final_cache,
                                  fused_final_logits)
from grokscope.tasks import ModularTask
from tests.conftest import random_float64_model

pytestmark = pytest.mark.skipif(not fused_available("cpu"), reason="numba not installed")


@pytest.mark.parametrize("p", [13, 97])
def test_fused_logits_equal_hooked_transformer_float32(p):
    task = ModularTask(p=p)
    model = build_model("grok1l", task, seed=3)
    data = task.dataset()
    ours = fused_final_logits(dict(model.named_parameters()), OperandBatch(data.a, data.b, p), task.eq_token)
    assert (model(data.tokens())[:, -1] - ours).abs().max().item() < 1e-5


def test_fused_cache_and_gradients_equal_hooked_transformer_float64():
    task, model = random_float64_model(13, seed=1)
    data = task.dataset()
    # A subset in shuffled order, with some tokens absent: the per-token example lists must cope.
    pick = torch.randperm(len(data.a), generator=torch.Generator().manual_seed(0))[:60]
    a, b, tokens, labels = data.a[pick], data.b[pick], data.tokens()[pick], data.labels[pick]
    params = dict(model.named_parameters())
    _, cache = model.run_with_cache(tokens)
    pattern, post, logits = fused_final_cache(params, OperandBatch(a, b, task.p), task.eq_token)
    torch.testing.assert_close(logits, model(tokens)[:, -1], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(pattern, cache["blocks.0.attn.hook_pattern"][:, :, -1], atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(post, cache["blocks.0.mlp.hook_post"][:, -1], atol=1e-9, rtol=1e-9)

    def grads(out):
        model.zero_grad()
        torch.nn.functional.cross_entropy(out, labels).backward()
        return {k: v.grad.clone() for k, v in params.items()}

    ref = grads(model(tokens)[:, -1])
    ours = grads(fused_final_logits(params, OperandBatch(a, b, task.p), task.eq_token))
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], atol=1e-10, rtol=1e-7, msg=k)


def test_fused_gradient_through_mlp_post_alone():
    # Only post receives a gradient here (direct's is zero), the ReLU mask must still apply.
    task, model = random_float64_model(11, seed=2)
    data = task.dataset()
    params = dict(model.named_parameters())
    _, post, _ = fused_final_cache(params, OperandBatch(data.a, data.b, task.p), task.eq_token)
    post.square().sum().backward()
    ours = {k: v.grad for k, v in params.items()}
    model.zero_grad()
    final_position_cache(params, data.a, data.b, task.eq_token).mlp_post.square().sum().backward()
    # b_K's true gradient is zero (softmax ignores a shift), so compare on the overall scale.
    scale = max(v.grad.abs().max().item() for v in params.values() if v.grad is not None)
    for k, v in params.items():
        if v.grad is None:  # W_out, b_out, b_U do not reach post
            assert ours[k] is None or not ours[k].any(), k
        else:
            torch.testing.assert_close(ours[k], v.grad, atol=1e-12 * scale, rtol=1e-7, msg=k)


def test_fused_is_bit_deterministic():
    task = ModularTask(p=23)
    model = build_model("grok1l", task, seed=0)
    data = task.dataset()
    params = dict(model.named_parameters())
    batch = OperandBatch(data.a, data.b, task.p)

    def run():
        model.zero_grad()
        fused_final_logits(params, batch, task.eq_token).logsumexp(-1).sum().backward()
        return [v.grad.clone() for v in params.values()]

    first, second = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(first, second))

