"""TransformerLens 3.x and 4.x side by side: the same checkpoint is the same model in both.

The test command runs the suite in two environments (``make test``): ``.venv`` with
transformer-lens 3.9 and ``.venv-tl4`` with 4.x, each pointing ``GROKSCOPE_OTHER_PYTHON`` at the
other's interpreter. The cross-version tests below load the same checkpoints there and compare
logits, cached activations and the Fourier analysis with what this interpreter computes; they
are skipped (saying why) when no other interpreter is given, and in the 4.x pass, which would
make the same comparisons the other way round.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from grokscope.models.build import model_from_state, model_state, tl_major
from grokscope.models.presets import PRESET_NAMES
from grokscope.models.state import initial_state
from grokscope.tasks import CharArithTask, ModularTask

OTHER = os.environ.get("GROKSCOPE_OTHER_PYTHON")
needs_other = pytest.mark.skipif(
    not OTHER,
    reason="GROKSCOPE_OTHER_PYTHON (the other TransformerLens version's "
    "interpreter) is not set: run the suite through make test",
)
# Each comparison is symmetric (the same seeded states, the same run): the 3.x pass of the test
# command makes it with this interpreter as the other one, and the 4.x pass need not make it again.
once = pytest.mark.skipif(
    os.environ.get("GROKSCOPE_EXPECT_TL") == "4",
    reason="made in the 3.x pass of the test command, with this interpreter as the other one",
)
CACHED = (
    "hook_embed",
    "blocks.0.attn.hook_pattern",
    "blocks.0.hook_resid_mid",
    "blocks.0.mlp.hook_post",
    "blocks.0.hook_resid_post",
)
CASES = {"grok1l": ModularTask(p=13), "power2l": ModularTask(p=13), "n14": CharArithTask(), "n28": CharArithTask()}


def _random_state(preset: str, task, seed: int) -> dict[str, torch.Tensor]:
    """Weights far from init, biases included (nanoGPT presets keep theirs at zero, as trained)."""
    gen = torch.Generator().manual_seed(seed)
    state = initial_state(preset, task, seed=seed)
    return {
        k: v
        if (preset.startswith("n") and k.rsplit(".", 1)[-1].startswith("b"))
        else v + 0.3 * torch.randn(v.shape, generator=gen)
        for k, v in state.items()
    }


def _tokens(task) -> torch.Tensor:
    if isinstance(task, ModularTask):
        return task.dataset().tokens()[:64]
    return task.sample_batch(8, torch.Generator().manual_seed(0), split="train")[0]


def compute(preset: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Logits and the cached activations of ``preset`` holding ``state``, with the installed TransformerLens."""
    task = CASES[preset]
    logits, cache = model_from_state(preset, task, state).run_with_cache(_tokens(task))
    return {"logits": logits.detach(), **{k: cache[k].detach() for k in CACHED}}


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_a_state_round_trips_through_the_installed_model(preset):
    task = CharArithTask() if preset.startswith(("n", "mlt")) else ModularTask(p=13)
    state = _random_state(preset, task, seed=1)
    back = model_state(model_from_state(preset, task, state))
    assert list(back) == list(state)
    for k in state:
        assert torch.equal(back[k], state[k]), k


@needs_other
@once
@pytest.mark.parametrize("preset", list(CASES))
def test_the_other_version_computes_the_same_logits_and_activations(preset, tmp_path):
    state = _random_state(preset, CASES[preset], seed=2)
    save_file(state, str(tmp_path / "state.safetensors"))
    code = (
        "import sys; from safetensors.torch import load_file, save_file; "
        "from tests.models.test_tl_versions import compute; from grokscope.models.build import tl_major; "
        f"out = compute({preset!r}, load_file(sys.argv[1])); save_file(out, sys.argv[2]); print(tl_major())"
    )
    r = subprocess.run(
        [OTHER, "-c", code, str(tmp_path / "state.safetensors"), str(tmp_path / "out.safetensors")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.split()[-1]) != tl_major(), "the other interpreter runs the same TransformerLens version"
    theirs, ours = load_file(str(tmp_path / "out.safetensors")), compute(preset, state)
    for k in ours:
        scale = ours[k].abs().max().item()
        torch.testing.assert_close(theirs[k], ours[k], atol=1e-5 * max(scale, 1.0), rtol=1e-5, msg=k)


@needs_other
@once
def test_the_other_version_finds_the_same_fourier_analysis(tiny_run, tmp_path):
    from grokscope.analysis.fourier.pipeline import CACHE_DIR, analyze_fourier

    run_dir = tmp_path / tiny_run.path.name
    shutil.copytree(tiny_run.path, run_dir, ignore=shutil.ignore_patterns(CACHE_DIR))
    code = (
        "import json, sys; from grokscope.analysis.fourier.pipeline import analyze_fourier; "
        "fa = analyze_fourier(sys.argv[1], use_cache=False); "
        "print(json.dumps({'keys': fa.key_frequencies, 'phases': [p.to_dict() for p in fa.phases]}))"
    )
    r = subprocess.run(
        [OTHER, "-c", code, str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert r.returncode == 0, r.stderr[-2000:]
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    fa = analyze_fourier(run_dir, use_cache=False)
    assert fa.key_frequencies and theirs["keys"] == fa.key_frequencies
    assert theirs["phases"] == [p.to_dict() for p in fa.phases]


def test_the_expected_transformer_lens_is_installed():
    # make test installs transformer-lens 4.x *before* grokscope in .venv-tl4: installing grokscope
    # must have kept it (no upper pin), and the main environment keeps 3.9.
    expected = os.environ.get("GROKSCOPE_EXPECT_TL")
    if expected is None:
        pytest.skip("GROKSCOPE_EXPECT_TL not set: run the suite through make test")
    from importlib.metadata import version

    assert version("transformer-lens").split(".")[0] == expected
    assert tl_major() == int(expected)
