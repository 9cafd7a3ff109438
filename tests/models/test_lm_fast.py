"""The fused forward of the nanoGPT-style character models equals TransformerLens's, gradients included.

The parameters are a state dict in TransformerLens 3.x names, as the LM trainer keeps them; the
reference is the installed TransformerLens's model (``HookedTransformer`` on 3.x,
``TransformerBridge`` on 4.x) run on them through ``functional_logits``.
"""

import pytest
import torch
import torch.nn.functional as F

from grokscope.models.build import build_model, functional_logits, load_state_, model_state
from grokscope.models.lm_fast import lm_logits, supports_lm_fast_path
from grokscope.models.nanogpt import freeze_biases_, is_bias, sync_tied_
from grokscope.tasks import CharArithTask, JointTask, ModularTask


def _perturbed(preset: str, task, seed: int):
    """A preset model with random weights, LayerNorm weights and biases included (biases of the
    attention and MLP stay frozen at zero, as the presets have them)."""
    model = build_model(preset, task, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in model_state(model).items()}
    for name, p in state.items():
        if not is_bias(name):  # the nanoGPT presets train exactly these (biases frozen at zero)
            p.add_(0.3 * torch.randn(p.shape, generator=gen) * (p.std() if p.numel() > 1 and p.std() > 0 else 1))
    sync_tied_(state)
    load_state_(model, state)
    return model


def _trainable(model) -> dict[str, torch.Tensor]:
    """The model's parameters as the LM trainer holds them: leaf tensors by 3.x name, biases frozen."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model_state(model).items()}
    freeze_biases_(params)
    return params


@pytest.mark.parametrize(
    "preset,task", [("n14", CharArithTask()), ("n28", JointTask()), ("n56", JointTask()), ("mlt", CharArithTask())]
)
def test_logits_and_gradients_equal_hooked_transformer(preset, task):
    model = _perturbed(preset, task, seed=4)
    params = _trainable(model)
    assert supports_lm_fast_path(model.cfg, params, dropout=0.0)
    x, y = task.sample_batch(16, torch.Generator().manual_seed(0), split="train")

    def grads(logits):
        for p in params.values():
            p.grad = None
        F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-1).backward()
        return {k: p.grad.clone() for k, p in params.items() if p.grad is not None}

    ref_logits = functional_logits(model, params, x)
    with torch.no_grad():  # the functional call is the model's own forward on its own weights
        torch.testing.assert_close(ref_logits, model(x), atol=0, rtol=0)
    ref = grads(ref_logits)
    fast_logits = lm_logits(params, x, n_layers=model.cfg.n_layers, eps=model.cfg.eps)
    fast = grads(fast_logits)
    torch.testing.assert_close(fast_logits, ref_logits, atol=2e-5, rtol=1e-5)
    assert fast.keys() == ref.keys() and "blocks.0.ln1.w" in fast and "unembed.W_U" in fast
    for name in ref:
        scale = ref[name].abs().max().clamp_min(1e-6)
        assert (fast[name] - ref[name]).abs().max() / scale < 1e-4, name


def test_fast_path_applies_only_where_it_is_the_same_model():
    task = CharArithTask()
    model = build_model("n14", task, seed=0)
    params = _trainable(model)
    assert supports_lm_fast_path(model.cfg, params, dropout=0.0)
    assert not supports_lm_fast_path(model.cfg, params, dropout=0.2)  # dropout lives in TL's hooks
    with torch.no_grad():
        params["blocks.0.mlp.b_in"][0] = 0.5  # a bias the fused forward leaves out
    assert not supports_lm_fast_path(model.cfg, params, dropout=0.0)
    grok = build_model("grok1l", ModularTask(p=7), seed=0)  # no LayerNorm, ReLU
    assert not supports_lm_fast_path(grok.cfg, model_state(grok), dropout=0.0)
