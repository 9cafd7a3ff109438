"""The fused final-position forward equals HookedTransformer's."""

import pytest
import torch

from grokscope.models.build import build_model, fused_preset, initial_params, tl_config
from grokscope.models.grok1l.fused import final_position_cache, final_position_logits, supports_fast_path
from grokscope.models.presets import PRESET_NAMES
from grokscope.tasks import ModularTask, get_task


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


@pytest.mark.parametrize("task", [ModularTask(p=13), ModularTask(p=97), ModularTask(p=113, op="x3xy", seed=4)],
                         ids=lambda t: t.name)
@pytest.mark.parametrize("seed", [0, 7])
def test_initial_params_equal_transformer_lens_init_bit_for_bit(task, seed):
    # The fused trainer starts from these without importing TransformerLens; its checkpoints must
    # stay those of build_model's HookedTransformer (same names, order, dtype and bits).
    ref = {k: v.detach() for k, v in build_model("grok1l", task, seed=seed).named_parameters()}
    ours = initial_params("grok1l", task, seed=seed)
    assert list(ours) == list(ref)
    for k in ref:
        assert ours[k].dtype == ref[k].dtype and torch.equal(ours[k], ref[k]), k
    assert not torch.equal(initial_params("grok1l", task, seed=seed + 1)["embed.W_E"], ours["embed.W_E"])


def test_initial_params_refuses_presets_it_does_not_cover():
    with pytest.raises(ValueError, match="use build_model"):
        initial_params("power2l", ModularTask(p=13))


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("task_name", ["mod13", "mod97-mul", "arith"])
def test_fused_preset_agrees_with_supports_fast_path(preset, task_name):
    task = get_task(task_name)
    assert fused_preset(preset, task) == supports_fast_path(tl_config(preset, task))


def test_fast_path_only_claimed_for_the_one_layer_relu_model():
    task = ModularTask(p=13)
    assert supports_fast_path(build_model("grok1l", task).cfg)
    assert not supports_fast_path(build_model("power2l", task).cfg)
    assert not supports_fast_path(build_model("n14", task).cfg)

