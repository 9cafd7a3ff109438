"""The word-operation task: text format, split, tensors, and every bad option."""

import pytest
import torch

from grokscope.tasks.word_ops import END, WORD_OPS, WordOpsTask


def small(**kw) -> WordOpsTask:
    return WordOpsTask(**({"n_train": 200, "n_test": 50} | kw))


def test_text_format():
    t = small(decimals=3)
    assert t.text("DIVIDE", 845, 79) == "DIVIDE 845 79=10.696;"
    assert t.text("SUBTRACT", 190, 498) == "SUBTRACT 190 498=-308;"
    assert t.prompt("SUM", 568, 390) == "SUM 568 390=" and t.answer("MULTIPLY", 974, 915) == "891210"
    assert t.candidates(845, 0).keys() == {"SUM", "SUBTRACT", "MULTIPLY"}  # no DIVIDE by zero


def test_split_is_seeded_disjoint_and_never_divides_by_zero():
    t = small()
    train, test = t.problems("train"), t.problems("test")
    assert len(train) == 200 and len(test) == 50 and not set(train) & set(test)
    assert small().problems("test") == test and small(seed=1).problems("test") != test
    assert {op for op, _, _ in train} == set(WORD_OPS)
    assert all(b != 0 for op, a, b in train + test if op == "DIVIDE")
    assert all(0 <= a <= 999 and 0 <= b <= 999 for _, a, b in train + test)


def test_problem_index_covers_the_space_once():
    t = WordOpsTask(low=-2, high=2, n_train=10, n_test=5)
    every = [t.problem(i) for i in range(t.n_problems)]
    assert len(set(every)) == len(every) == 3 * 25 + 5 * 4
    assert ("DIVIDE", -2, 0) not in every and ("DIVIDE", 2, -2) in every
    with pytest.raises(IndexError):
        t.problem(t.n_problems)


def test_block_size_bounds_every_line():
    for kw in ({}, {"low": -30, "high": 7, "decimals": 5}, {"low": 3, "high": 12, "ops": ("DIVIDE",)}):
        t = WordOpsTask(**({"n_train": 10, "n_test": 5} | kw))
        longest = max(len(t.text(*t.problem(i))) for i in range(0, t.n_problems, max(1, t.n_problems // 5000)))
        assert t.block_size >= longest - 1
    t = WordOpsTask(n_train=10, n_test=5)
    assert t.block_size == len("MULTIPLY 999 999=998001;") - 1


def test_batches_train_only_the_answer():
    t = small(decimals=2)
    x, y = t.sample_batch(16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (16, t.block_size) and x.dtype == y.dtype == torch.int64
    for xr, yr in zip(x.tolist(), y.tolist()):
        line = t.vocab.decode(xr)
        prompt = line[: line.index("=") + 1]
        trained = "".join(t.vocab.chars[i] for i in yr if i >= 0)
        assert trained.endswith(END) and trained[:-1] == t.answer(*_parse(prompt))
        assert all(i == -1 for i in yr[: len(prompt) - 1])  # the prompt is given, not learned


def _parse(prompt: str):
    op, a, b = prompt[:-1].split(" ")
    return op, int(a), int(b)


def test_round_trip_through_dict():
    from grokscope.tasks import task_from_dict

    t = small(ops=("SUM", "DIVIDE"), low=5, high=50, decimals=1)
    d = t.to_dict()
    assert d["kind"] == "word_ops" and d["ops"] == ["SUM", "DIVIDE"]
    assert task_from_dict(d) == t and t.name == "wordops-sum-divide-r5_50"


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"ops": ("SUM", "POWER")}, "unknown operation 'POWER'"),
        ({"ops": ()}, "no operation"),
        ({"ops": ("SUM", "SUM")}, "repeat"),
        ({"low": 0, "high": 0, "ops": ("DIVIDE",), "n_train": 1, "n_test": 0}, "divide by zero"),
        ({"low": 0, "high": 0, "n_train": 1, "n_test": 1}, "divide by zero"),
        ({"low": 5, "high": 1}, "empty"),
        ({"decimals": -1}, "decimals"),
        ({"decimals": 40}, "decimals"),
        ({"n_train": 0}, "n_train must be an integer in 1.."),
        ({"low": 0, "high": 3, "n_train": 60, "n_test": 10}, "give only"),
    ],
)
def test_bad_options(kw, needle):
    with pytest.raises(ValueError, match=needle):
        WordOpsTask(**({"n_train": 10, "n_test": 5} | kw))


def test_evaluate_reports_exact_and_char_accuracy():
    from grokscope.models.build import build_model

    t = small(low=0, high=20)
    model = build_model("n14", t, seed=0)
    out = t.evaluate(model, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"exact_train", "exact_test", "char_acc_train", "char_acc_test"}
    assert all(0.0 <= v <= 1.0 for v in out.values())
