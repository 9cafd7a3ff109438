"""The notebook API: every name ``grokscope`` and ``grokscope.analysis`` list resolves."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["grokscope", "grokscope.analysis"])
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
    with pytest.raises(AttributeError):
        _ = mod.no_such_name


def test_score_answer_names_the_blogs_ran_on_failure():
    import grokscope as gs

    s = gs.score_answer("8912108912101025", "891210")
    assert s.termination == "ran_on" and not s.exact and s.correct_prefix == 6


@pytest.mark.parametrize(
    "task,options,kind,forward",
    [
        ("mod13", dict(steps=4, eval_every=2, ckpt_every=2), "modular", "fused"),
        ("arith", dict(steps=2, eval_every=2, eval_iters=1), "char_arith", "fast_ops"),
        (
            "wordops",
            dict(steps=2, eval_every=2, eval_iters=1, n_train=20, n_test=5, operands="0..9", ops="SUM"),
            "word_ops",
            "hooked",
        ),
    ],
)
def test_train_takes_any_task(tmp_path, task, options, kind, forward):
    import json

    import grokscope as gs

    run = gs.train(task, out=tmp_path, device="cpu", progress=False, **options)
    info = json.loads((run.path / "run.json").read_text())
    assert info["finished"] and info["final_step"] == options["steps"]
    assert info["config"]["task"]["kind"] == kind and info["forward"] == forward
    assert run.steps[-1] == options["steps"] == run.metrics_rows()[-1]["step"]
    # The same call continues that run (nothing left to do), and a config object trains too.
    again = gs.train(task, out=tmp_path, device="cpu", progress=False, **options)
    assert again.path == run.path and again.steps == run.steps
    other = gs.train(run.config, out=tmp_path / "copy", device="cpu", progress=False)
    assert other.state_dict().keys() == run.state_dict().keys()


def test_train_refuses_options_of_another_kind_of_task(tmp_path):
    import grokscope as gs

    with pytest.raises(ValueError, match="--dropout applies to character-level tasks"):
        gs.train("mod13", out=tmp_path, dropout=0.1, progress=False)
    with pytest.raises(ValueError, match="--frac applies to mod<p> tasks only"):
        gs.train("arith", out=tmp_path, frac=0.5, progress=False)
    assert not any(tmp_path.iterdir())
