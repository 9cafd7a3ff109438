"""A short real run shared by the analysis tests (trained once per session, ~5 s)."""

import pytest

from grokscope.training.modular import train
from tests.conftest import tiny_config

TINY_STEPS = 800


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """a+b mod 23, 80% of pairs for training: memorizes, groks by step ~600, stops at 800."""
    return train(tiny_config(p=23, frac=0.8, steps=TINY_STEPS, eval_every=20, ckpt_every=20),
                 tmp_path_factory.mktemp("runs"), device="cpu")
