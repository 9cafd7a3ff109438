"""The fused final-position forward equals HookedTransformer's."""

import pytest
import torch

from grokscope.models.build import build_model
from grokscope.models.fast import final_position_cache, final_position_logits, supports_fast_path
from grokscope.tasks import ModularTask


@pytest.mark.parametrize("p", [13, 97])
def test_fast_logits_equal_hooked_transformer(p):
    task = ModularTask(p=p)
    model = build_model("grok1l", task, seed=3)
    data = task.dataset()
    ref = model(data.tokens())[:, -1]
    fast = final_position_logits(dict(model.named_parameters()), data.a, data.b, task.eq_token)
    assert (ref - fast).abs().max().item() < 1e-5


def test_fast_path_matches_on_large_random_weights_in_float64():
    # Random weights far from init (biases too) exercise every term; float64 makes the check tight.
    task = ModularTask(p=13)
    model = build_model("grok1l", task, seed=1).to(torch.float64, print_details=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen, dtype=torch.float64) * 0.5)
    data = task.dataset()
    _, cache = model.run_with_cache(data.tokens())
    ours = final_position_cache(dict(model.named_parameters()), data.a, data.b, task.eq_token)
    torch.testing.assert_close(ours.logits, model(data.tokens())[:, -1], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(ours.pattern, cache["blocks.0.attn.hook_pattern"][:, :, -1], atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(ours.mlp_post, cache["blocks.0.mlp.hook_post"][:, -1], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(ours.resid_mid, cache["blocks.0.hook_resid_mid"][:, -1], atol=1e-9, rtol=1e-9)


def test_fast_path_gradients_equal_hooked_transformer():
    task = ModularTask(p=13)
    model = build_model("grok1l", task, seed=0).to(torch.float64, print_details=False)
    data = task.dataset()
    params = dict(model.named_parameters())

    def grads(logits):
        model.zero_grad()
        torch.nn.functional.cross_entropy(logits, data.labels).backward()
        return {k: v.grad.clone() for k, v in params.items()}

    ref = grads(model(data.tokens())[:, -1])
    ours = grads(final_position_logits(params, data.a, data.b, task.eq_token))
    for k in ref:
        torch.testing.assert_close(ours[k], ref[k], atol=1e-10, rtol=1e-7, msg=k)


def test_fast_path_only_claimed_for_the_one_layer_relu_model():
    task = ModularTask(p=13)
    assert supports_fast_path(build_model("grok1l", task).cfg)
    assert not supports_fast_path(build_model("power2l", task).cfg)
    assert not supports_fast_path(build_model("n14", task).cfg)

