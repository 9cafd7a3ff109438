"""The canonical run groks on this CPU. Minutes, so marked slow: `make test-slow`."""

import time

import pytest

from grokscope.config.modular import RunConfig, TrainConfig
from grokscope.tasks import ModularTask
from grokscope.training.train import train


@pytest.mark.slow
def test_mod97_seed0_groks(tmp_path):
    config = RunConfig(task=ModularTask(p=97, frac=0.3, seed=0), train=TrainConfig(stop_after_grok=0))
    t0 = time.perf_counter()
    run = train(config, tmp_path, device="cpu")
    wall = time.perf_counter() - t0
    df = run.metrics()
    assert df["test_acc"].iloc[-1] >= 0.99
    assert df["train_acc"].max() == 1.0
    print(f"grokked at step {run.grok_step} in {wall:.0f} s")
