import pytest

from grokscope.training.schedule import dense_steps, is_checkpoint_step

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_dense_then_regular():
    assert sorted(dense_steps(100)) == [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96]
    ckpts = [s for s in range(1001) if is_checkpoint_step(s, 100)]
    assert ckpts[:14] == sorted(dense_steps(100))
    assert ckpts[14:] == list(range(100, 1001, 100))
