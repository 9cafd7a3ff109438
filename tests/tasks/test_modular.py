import pytest
import torch

from grokscope.tasks import ModularTask, get_task

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_mod97_is_addition_with_eq_token():
    task = get_task("mod97")
    data = task.dataset()
    assert (task.p, task.op, task.d_vocab, task.d_vocab_out) == (97, "add", 98, 97)
    assert len(data.a) == 97 * 97
    assert torch.equal(data.labels, (data.a + data.b) % 97)
    assert (data.tokens()[:, 2] == 97).all()
    assert len(data.train_idx) == int(0.3 * 97 * 97) and len(data.test_idx) == 97 * 97 - len(data.train_idx)


@pytest.mark.parametrize(
    "op,fn",
    [
        ("sub", lambda a, b, p: (a - b) % p),
        ("mul", lambda a, b, p: (a * b) % p),
        ("x2y2", lambda a, b, p: (a * a + b * b) % p),
        ("x2xyy2", lambda a, b, p: (a * a + a * b + b * b) % p),
        ("x3xy", lambda a, b, p: (a**3 + a * b) % p),
    ],
)
def test_operations(op, fn):
    data = ModularTask(p=11, op=op).dataset()
    for a, b, c in zip(data.a.tolist(), data.b.tolist(), data.labels.tolist()):
        assert c == fn(a, b, 11)


def test_division_uses_modular_inverse_and_skips_zero():
    data = ModularTask(p=11, op="div").dataset()
    assert (data.b != 0).all() and len(data.a) == 11 * 10
    assert ((data.labels * data.b) % 11 == data.a).all()


def test_split_depends_on_seed_and_covers_everything():
    t0, t1 = ModularTask(p=23, seed=0).dataset(), ModularTask(p=23, seed=1).dataset()
    assert not torch.equal(t0.train_idx, t1.train_idx)
    assert torch.equal(t0.train_idx, ModularTask(p=23, seed=0).dataset().train_idx)
    both = torch.cat([t0.train_idx, t0.test_idx]).sort().values
    assert torch.equal(both, torch.arange(23 * 23))
    assert t0.train_mask().sum() == len(t0.train_idx)


def test_task_names():
    assert get_task("mod113-sub").op == "sub"
    assert get_task("mod113", op="div").name == "mod113-div"
    with pytest.raises(ValueError, match="names op"):
        get_task("mod113-sub", op="add")
