"""Every preset's parameters without TransformerLens: the initial values equal TransformerLens 3.x's own
init bit for bit, the shapes and order equal its ``named_parameters()``, and the counts its count."""

import warnings

import pytest
import torch

from grokscope.models.build import tl_config, tl_major
from grokscope.models.nanogpt import nanogpt_init
from grokscope.models.presets import NANOGPT_PRESETS, PRESET_NAMES, model_kwargs
from grokscope.models.state import count_params, initial_state, state_shapes
from grokscope.tasks import CharArithTask, ModularTask

TASKS = [ModularTask(p=13), ModularTask(p=97), CharArithTask()]


def _transformer_lens_3_init(preset, task, seed):
    """What TransformerLens 3.x's HookedTransformer draws itself (seeded global RNG), then nanoGPT's init."""
    from transformer_lens import HookedTransformer

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.x announces 4.0 for every model
        torch.manual_seed(seed)
        model = HookedTransformer(tl_config(preset, task), move_to_device=False)
    state = {k: v.detach() for k, v in model.named_parameters()}
    if preset in NANOGPT_PRESETS:
        nanogpt_init(state, torch.Generator().manual_seed(seed), n_layers=model.cfg.n_layers)
    return state


@pytest.mark.skipif(tl_major() >= 4, reason="compares with TransformerLens 3.x's own init")
@pytest.mark.parametrize("preset", [p for p in PRESET_NAMES if p != "mlt"] + ["mlt"])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_initial_state_is_transformer_lens_3_init_bit_for_bit(preset, task):
    if preset == "mlt" and task.name != "arith":
        pytest.skip("one task is enough for the 10M-parameter model")
    for seed in (0, 7):
        ref = _transformer_lens_3_init(preset, task, seed)
        ours = initial_state(preset, task, seed=seed)
        assert list(ours) == list(ref)
        for k in ref:
            assert ours[k].dtype == ref[k].dtype and torch.equal(ours[k], ref[k]), k
    assert not torch.equal(initial_state(preset, task, seed=1)["embed.W_E"], ours["embed.W_E"])


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_shapes_and_count_are_the_models(preset):
    from grokscope.models.build import build_model, model_state

    task = CharArithTask() if preset in NANOGPT_PRESETS else ModularTask(p=13)
    state = model_state(build_model(preset, task, seed=0))
    assert {k: tuple(v.shape) for k, v in state.items()} == state_shapes(preset, task)
    assert count_params(preset, task) == sum(v.numel() for v in state.values())


def test_initial_state_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    initial_state("n14", CharArithTask(), seed=3)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_nanogpt_presets_start_tied_with_zero_biases():
    state = initial_state("n28", CharArithTask(), seed=0)
    assert torch.equal(state["unembed.W_U"], state["embed.W_E"].T)
    assert all(not v.any() for k, v in state.items() if k.rsplit(".", 1)[-1].startswith("b"))
    assert model_kwargs("n28", CharArithTask())["d_model"] == 28
