"""Shared builders: tiny tasks and runs that train in seconds."""

import os
import sys
from pathlib import Path

import pytest
import torch

from grokscope.config import RunConfig, TrainConfig
from grokscope.models.build import build_model, load_state_, model_state
from grokscope.tasks import ModularTask

# The test command runs the suite twice, under TransformerLens 3.x and 4.x. Tests of code that never
# touches TransformerLens (the fused trainer, the run store) run only in the first pass: the second
# would repeat them to the bit and cost a minute and a half of the ~10-minute budget.
tl_independent = pytest.mark.skipif(
    os.environ.get("GROKSCOPE_EXPECT_TL") == "4",
    reason="does not touch TransformerLens (fused trainer, run store): run in the TransformerLens 3.x pass",
)


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
