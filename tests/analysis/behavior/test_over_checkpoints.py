"""Behaviour over training: aggregation and chance on hand-made answers, the gap rule on a planted
table, and the whole analysis + report on tiny word-ops and char-arith runs."""

import json

import pandas as pd
import pytest

from grokscope.analysis.behavior.examples import BehaviorExample, check_vocab, pick_examples, task_examples
from grokscope.analysis.behavior.over_checkpoints import (
    BehaviorConfig,
    aggregate,
    analyze_behavior,
    chance_baseline,
    score_generations,
    split_generation,
    spread_steps,
)
from grokscope.analysis.behavior.result import METRICS, BehaviorAnalysis
from grokscope.tasks.vocab import CharVocab


def ex(prompt, target, group="SUM", split="test", end=";", candidates=None):
    return BehaviorExample(prompt=prompt, target=target, end=end, group=group, split=split, candidates=candidates or {})


def test_split_generation():
    assert split_generation("958;;;", ";") == ("958", True)
    assert split_generation("9581234", ";") == ("9581234", False)
    assert split_generation("Paris \nCap", " \n") == ("Paris", True)


def test_aggregate_known_answers():
    exs = [ex("SUM 1 2=", "3"), ex("SUM 5 5=", "10"), ex("SUB 1 2=", "-1", group="SUBTRACT")]
    scores = score_generations(exs, ["3;", "11;", "-1999999"], places=2)
    t = aggregate(exs, scores).set_index(["split", "group"])
    assert t.loc[("test", "SUM"), "exact"] == 0.5 and t.loc[("test", "SUM"), "n"] == 2
    assert t.loc[("test", "SUM"), "digit_accuracy"] == pytest.approx((1 + 0.5) / 2)
    assert t.loc[("test", "all"), "exact"] == pytest.approx(1 / 3) and t.loc[("test", "all"), "n"] == 3
    assert t.loc[("test", "SUBTRACT"), "ran_on"] == 1.0 and t.loc[("test", "SUBTRACT"), "fail_ran_on"] == 1.0
    assert t.loc[("test", "SUM"), "relative_error"] == pytest.approx(0.05)  # median of 0 and 0.1
    assert t.loc[("test", "SUM"), "decimal_match"] != t.loc[("test", "SUM"), "decimal_match"]  # NaN: no decimals
    fails = [c for c in t.columns if c.startswith("fail_")]
    assert t[fails].sum(axis=1).round(9).eq(1.0).all()


def test_chance_is_a_derangement_within_group():
    exs = [ex(f"SUM {i} 0=", str(i)) for i in range(10)] + [ex("X=", "7", group="SOLO")]
    c = chance_baseline(exs, seed=0).set_index(["split", "group"])
    assert c.loc[("test", "SUM"), "exact"] == 0.0 and c.loc[("test", "SUM"), "n"] == 10
    assert c.loc[("test", "SUM"), "magnitude_correct"] == pytest.approx(
        0.8
    )  # "0" has no magnitude: wrong as answer and as target
    assert ("test", "SOLO") not in c.index  # one question cannot be answered with another's answer


def test_spread_steps_keeps_ends():
    assert spread_steps(range(10), None) == list(range(10))
    assert spread_steps(range(100), 5) == [0, 25, 50, 74, 99]
    assert spread_steps([3, 7], 5) == [3, 7]


def test_pick_examples_per_group_and_stable():
    exs = [ex(f"p{i}", "1", group=g, split=s) for i in range(30) for g in ("A", "B") for s in ("train", "test")]
    picked = pick_examples(exs, 5, seed=1)
    assert len(picked) == 20 and picked == pick_examples(exs, 5, seed=1) and picked != pick_examples(exs, 5, seed=2)


def test_check_vocab_names_missing_characters():
    with pytest.raises(ValueError, match="lacks characters the questions need: 'XZ'"):
        check_vocab([ex("SUM 1 2=", "3"), ex("ZUX", "3")], CharVocab("SUM 0123456789=;"))


def test_char_task_examples():
    from grokscope.tasks import CapitalsTask, CharArithTask

    arith = task_examples(CharArithTask())
    assert len(arith) == 200 and {e.group for e in arith} == {"add", "sub"}
    held = [e for e in arith if e.split == "test"]
    assert sorted(e.prompt for e in held) == ["<5+7=", "<5-7=", "<7+5=", "<7-5="]
    assert next(e for e in arith if e.prompt == "<5-7=").target == "-2"
    caps = task_examples(CapitalsTask())
    assert len(caps) == 50 and caps[0].prompt == "Capital of France is " and caps[0].target == "Paris"
    assert caps[0].end == " \n"


def planted(exact, digits, magnitude, chance_digits=0.1, chance_mag=0.3) -> BehaviorAnalysis:
    steps = list(range(0, 100 * len(exact), 100))
    rows = [
        dict(step=s, split="test", group="all", n=10, **{m: 0.0 for m in METRICS})
        | dict(exact=e, digit_accuracy=d, magnitude_correct=m)
        for s, e, d, m in zip(steps, exact, digits, magnitude)
    ]
    chance = pd.DataFrame(
        [
            dict(split="test", group="all", n=10, **{m: 0.0 for m in METRICS})
            | dict(digit_accuracy=chance_digits, magnitude_correct=chance_mag)
        ]
    )
    losses = pd.DataFrame({"step": steps, "train_loss": 1.0, "val_loss": 2.0}).set_index("step")
    return BehaviorAnalysis(
        run="r",
        path="p",
        task="t",
        preset="x",
        config=None,
        table=pd.DataFrame(rows),
        losses=losses,
        chance=chance,
        examples=pd.DataFrame(),
        predictions=pd.DataFrame(),
    )


def test_gap_is_the_longest_run_with_exact_low_and_structure_above_chance():
    ba = planted(
        exact=[0, 0, 0, 0, 0, 0.5, 0.9],
        digits=[0.1, 0.3, 0.35, 0.1, 0.4, 0.6, 0.9],
        magnitude=[0.3, 0.5, 0.6, 0.3, 0.3, 0.9, 1.0],
    )
    g = ba.gap()
    assert (g["start"], g["end"], g["checkpoints"]) == (100, 200, 2) and g["peak_step"] == 200
    assert g["exact_max"] == 0.0 and g["digit_accuracy_mean"] == pytest.approx(0.325)
    assert g["chance"]["digit_accuracy"] == 0.1 and g["at_peak"]["val_loss"] == 2.0
    assert planted(exact=[0, 0.2], digits=[0.1, 0.9], magnitude=[0.3, 0.9]).gap() is None


@pytest.fixture(scope="module")
def wordops_run(tmp_path_factory):
    from grokscope.config.lm import LMRunConfig, LMTrainConfig
    from grokscope.tasks.word_ops import WordOpsTask
    from grokscope.training.train import train

    task = WordOpsTask(low=0, high=30, decimals=1, n_train=300, n_test=60, batch_size=32)
    cfg = LMRunConfig(
        task=task,
        preset="n28",
        seed=0,
        train=LMTrainConfig(
            steps=40, lr=3e-3, min_lr=1e-4, warmup=5, lr_decay_steps=40, eval_every=20, eval_iters=1, ckpt_every=20
        ),
    )
    return train(cfg, tmp_path_factory.mktemp("runs"), device="cpu")


def test_analysis_of_a_word_ops_run(wordops_run, tmp_path):
    ba = analyze_behavior(wordops_run, config=BehaviorConfig(per_group=6, max_checkpoints=4))
    assert ba.steps == spread_steps(wordops_run.steps, 4) and ba.steps[-1] == 40
    assert set(ba.groups) == {"SUM", "SUBTRACT", "MULTIPLY", "DIVIDE"} and ba.splits == ["train", "test"]
    assert len(ba.table) == 4 * 2 * 5 and set(METRICS) <= set(ba.table.columns)
    assert len(ba.predictions) == 4 * len(ba.examples) == 4 * 48
    s = json.loads(json.dumps(ba.summary()))
    assert [r["step"] for r in s["per_checkpoint"]] == ba.steps
    assert set(s["per_checkpoint"][-1]["test"]) == {"all", "SUM", "SUBTRACT", "MULTIPLY", "DIVIDE"}
    assert s["per_checkpoint"][-1]["val_loss"] is not None and set(s["gaps"]) == {"all", *ba.groups}
    assert s["chance"]["test"]["DIVIDE"]["decimal_match"] is not None
    table = ba.sample_table([40], per_group=2)
    assert len(table) == 8 and set(table["group"]) == set(ba.groups)
    kinds = ba.failure_examples(40)
    assert kinds["failure"].is_unique and set(kinds["failure"]) == set(
        ba.predictions[
            (ba.predictions.step == 40) & ba.predictions.example.isin(ba.examples.index[ba.examples.split == "test"])
        ]["failure"]
    )

    from grokscope.analysis.behavior.report import write_report

    html = write_report(ba, tmp_path / "r" / "behavior.html").read_text()
    assert html.count("Plotly.newPlot") == 4 and "<script src=" not in html
    assert "model output" in html and "DIVIDE" in html and "chance" in html


def test_analysis_rejects_unknown_operation_and_foreign_vocabulary(wordops_run):
    from grokscope.tasks import CapitalsTask

    with pytest.raises(ValueError, match="unknown operation 'POWER'"):
        analyze_behavior(wordops_run, config=BehaviorConfig(groups=("SUM", "POWER")))
    with pytest.raises(ValueError, match="lacks characters"):
        analyze_behavior(wordops_run, task=CapitalsTask())


def test_analysis_of_a_char_arith_run(tmp_path):
    from grokscope.config.lm import LMRunConfig, LMTrainConfig
    from grokscope.tasks import CharArithTask
    from grokscope.training.train import train

    task = CharArithTask(eval_mode="clean", eval_samples=1, eval_temperature=0.0, eval_top_k=None, batch_size=64)
    run = train(
        LMRunConfig(
            task=task,
            preset="n14",
            seed=0,
            train=LMTrainConfig(steps=10, warmup=2, lr_decay_steps=10, eval_every=10, eval_iters=1, ckpt_every=10),
        ),
        tmp_path,
        device="cpu",
    )
    ba = analyze_behavior(run, config=BehaviorConfig(per_group=20, max_checkpoints=3))
    assert set(ba.groups) == {"add", "sub"}
    last = ba.series("test", "all").iloc[-1]
    assert last["n"] == 4 and 0 <= last["digit_accuracy"] <= 1  # the held-out pairs
    assert ba.summary()["gaps"]["all"] is None or ba.summary()["gaps"]["all"]["split"] == "test"
