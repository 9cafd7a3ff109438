"""How a run describes itself (``repr``, what a notebook shows after ``gs.train``): never "None"."""

from grokscope.store.run import Run
from grokscope.training.train import train
from tests.conftest import tiny_config, tl_independent


@tl_independent
def test_repr_of_a_run_that_never_reached_99_percent(tmp_path):
    run = train(tiny_config(steps=30), tmp_path, device="cpu")  # 30 steps of a+b mod 13: far from 99% test
    assert run.summary()["test_99"] is None
    text = repr(Run(run.path))
    assert "None" not in text, text
    assert "test never reached 99%" in text and "to step 30" in text
