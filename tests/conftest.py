"""Shared builders: tiny tasks and runs that train in seconds."""

import os
import sys
from pathlib import Path

# One compute thread per process, set before torch and numba are imported (and inherited by every
# subprocess a test starts): the test command runs two pytest workers on a 2-core machine, and two
# processes each spinning a 2-thread OpenMP pool make the suite three times slower.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from grokscope.config import RunConfig, TrainConfig  # noqa: E402
from grokscope.models.build import build_model, load_state_, model_state  # noqa: E402
from grokscope.tasks import ModularTask  # noqa: E402

# The test command runs the suite twice, under TransformerLens 3.x and 4.x. Tests of code that never
# touches TransformerLens (the fused trainer, the run store, the analyses of grok1l weights, the
# command line's parsing) run only in the first pass: the second would repeat them to the bit. The
# mark is a claim the first pass checks: a marked test that reaches a branch on the installed
# TransformerLens (``models.build.tl_major``) fails there. (Fixtures of wider scope, set up before the
# check starts, and subprocesses are outside what it sees.)
tl_independent = pytest.mark.tl_independent


def pytest_collection_modifyitems(config, items):
    if os.environ.get("GROKSCOPE_EXPECT_TL") != "4":
        return
    skip = pytest.mark.skip(reason="does not touch TransformerLens: run in the TransformerLens 3.x pass")
    for item in items:
        if item.get_closest_marker("tl_independent"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _tl_independent_is_true(request, monkeypatch):
    if request.node.get_closest_marker("tl_independent") is None:
        yield
        return
    import grokscope.models.build as build

    reached = []
    real = build.tl_major

    def probe() -> int:
        reached.append(True)
        return real()

    monkeypatch.setattr(build, "tl_major", probe)
    yield
    assert not reached, "marked tl_independent, but it reached code that depends on the TransformerLens version"


def tiny_config(*, p: int = 13, frac: float = 0.3, preset: str = "grok1l", seed: int = 0, **train) -> RunConfig:
    """A mod-13 run by default: 50 training pairs, ~1 ms a step. (p=23, frac=0.8 groks by step ~600.)"""
    defaults = dict(steps=60, eval_every=5, ckpt_every=20, stop_after_grok=None)
    return RunConfig(
        task=ModularTask(p=p, frac=frac, seed=seed), preset=preset, seed=seed, train=TrainConfig(**(defaults | train))
    )


@pytest.fixture
def cli_cmd() -> list[str]:
    """The CLI as a subprocess command line, using this interpreter."""
    return [sys.executable, "-m", "grokscope.cli.main"]


def one_line_error(result, needle: str) -> None:
    """A typer ``CliRunner`` result that failed the way every bad input must: exit code 2 and one
    ``error: ...`` line on stderr that contains ``needle``."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr


def ckpt_bytes(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((Path(run_dir) / "ckpt").glob("*.safetensors"))}


def random_float64_model(p: int, seed: int):
    """A float64 ``grok1l`` model on a+b mod p with random weights and biases (for tight comparisons)."""
    # Weights far from init (biases too) exercise every term; float64 makes the check tight.
    # Drawn in the state's 3.x names, layouts and order (HookedTransformer's parameters() order), so the
    # weights are the same whichever TransformerLens is installed; 4.x's bridge holds b_U as a buffer.
    task = ModularTask(p=p)
    model = build_model("grok1l", task, seed=seed).to(torch.float64, print_details=False)
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) * 0.5 for k, v in model_state(model).items()}
    load_state_(model, state)
    return task, model


TINY_STEPS = 800


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """a+b mod 23, 80% of pairs for training: memorizes, groks by step ~600, stops at 800 (~5 s, once per session).

    Shared by the analysis tests, the commands that analyse a run and the reproduction scripts.
    """
    from grokscope.training.train import train

    return train(
        tiny_config(p=23, frac=0.8, steps=TINY_STEPS, eval_every=20, ckpt_every=20),
        tmp_path_factory.mktemp("runs"),
        device="cpu",
    )
