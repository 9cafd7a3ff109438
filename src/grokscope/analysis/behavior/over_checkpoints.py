"""Behaviour over training: generate answers at every checkpoint and score what is right about them.

Loss sees one wrong digit the same as no answer at all; here each checkpoint's greedy answers
to a fixed set of questions get every score of :mod:`grokscope.analysis.behavior.score`, per
split and group (operation), next to the run's train/validation loss, with a chance baseline
(the same questions answered with other questions' right answers from the same group: a model
that knows what answers look like but ignores the operands).

>>> from grokscope.analysis.behavior.over_checkpoints import analyze_behavior     # doctest: +SKIP
>>> ba = analyze_behavior("checkpoints/wordops-power2l-s0")       # doctest: +SKIP
>>> ba.table.query("split == 'test' and group == 'all'")[["step", "exact", "digit_accuracy"]]  # doctest: +SKIP
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from grokscope.analysis.behavior.examples import BehaviorExample, check_vocab, pick_examples, task_examples
from grokscope.analysis.behavior.result import METRICS, BehaviorAnalysis
from grokscope.analysis.behavior.score import FAILURES, AnswerScore, score_answer
from grokscope.bounds import check_int
from grokscope.tasks.vocab import CharVocab


@dataclass(frozen=True, kw_only=True)
class BehaviorConfig:
    """What to score: ``per_group`` questions of each split and group (drawn by ``seed``), at most
    ``max_checkpoints`` checkpoints (evenly spread, first and last kept; ``None`` = all), greedy
    answers of up to the longest target + end + ``extra_tokens`` characters (room to run on),
    the decimal-aware match to ``places`` decimals, and only ``groups`` if given."""

    per_group: int = 50
    max_checkpoints: int | None = 60
    extra_tokens: int = 8
    places: int = 2
    seed: int = 0
    groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_int("per_group", self.per_group)
        if self.max_checkpoints is not None and self.max_checkpoints < 2:
            raise ValueError(f"max_checkpoints must be >= 2 or None, got {self.max_checkpoints}")
        if self.extra_tokens < 0 or self.places < 0:
            raise ValueError(f"extra_tokens and places must be >= 0, got {self.extra_tokens}, {self.places}")
        if self.groups is not None:
            object.__setattr__(self, "groups", tuple(self.groups))


def split_generation(generation: str, end: str) -> tuple[str, bool]:
    """The answer (text before the first ``end``) and whether ``end`` came at all."""
    answer, found, _ = generation.partition(end)
    return answer, bool(found)


def score_generations(
    examples: Sequence[BehaviorExample], generations: Sequence[str], *, places: int = 2
) -> list[AnswerScore]:
    """Score raw continuations (as :func:`grokscope.tasks.sampling.generate` returns them)."""
    scores = []
    for ex, gen in zip(examples, generations, strict=True):
        answer, stopped = split_generation(gen, ex.end)
        scores.append(
            score_answer(
                answer,
                ex.target,
                stopped=stopped,
                op=ex.group if ex.candidates else None,
                candidates=ex.candidates or None,
                places=places,
            )
        )
    return scores


def answer_examples(
    model: Any, examples: Sequence[BehaviorExample], vocab: CharVocab, *, extra_tokens: int = 8
) -> list[str]:
    """Greedy continuations of every prompt, long enough to see an answer run on past its end."""
    from grokscope.tasks.sampling import generate

    n_new = max(len(ex.target) + len(ex.end) for ex in examples) + extra_tokens
    return generate(model, [ex.prompt for ex in examples], vocab, n_new, temperature=0.0)


def aggregate(examples: Sequence[BehaviorExample], scores: Sequence[AnswerScore]) -> pd.DataFrame:
    """One row per (split, group), plus group ``all`` per split: the mean of every score, the
    median relative error, and the share of each failure class (``fail_<class>``)."""
    rows = pd.DataFrame([_numeric(ex, s) for ex, s in zip(examples, scores, strict=True)])
    if rows.empty:
        return pd.DataFrame(columns=["split", "group", "n", *METRICS])
    parts = [rows, rows.assign(group="all")]
    both = pd.concat(parts, ignore_index=True)
    g = both.groupby(["split", "group"], sort=True)
    out = g[[m for m in METRICS if m != "relative_error"]].mean()
    out["relative_error"] = g["relative_error"].median()
    out["n"] = g.size()
    fails = pd.crosstab([both["split"], both["group"]], both["failure"], normalize="index")
    fails = fails.reindex(columns=list(FAILURES), fill_value=0.0).add_prefix("fail_")
    return out.join(fails).reset_index()[["split", "group", "n", *METRICS, *fails.columns]]


def _numeric(ex: BehaviorExample, s: AnswerScore) -> dict[str, Any]:
    def f(x: bool | float | None) -> float:
        return float("nan") if x is None else float(x)

    return dict(
        split=ex.split,
        group=ex.group,
        exact=f(s.exact),
        char_accuracy=s.char_accuracy,
        digit_accuracy=f(s.digit_accuracy),
        magnitude_correct=f(s.magnitude_correct),
        sign_correct=f(s.sign_correct),
        relative_error=f(s.relative_error),
        decimal_match=f(s.decimal_match),
        operation_consistent=f(s.operation_consistent),
        stopped_right=f(s.termination == "ok"),
        stopped_early=f(s.termination == "early"),
        ran_on=f(s.termination == "ran_on"),
        failure=s.failure,
    )


def chance_baseline(examples: Sequence[BehaviorExample], *, places: int = 2, seed: int = 0) -> pd.DataFrame:
    """The scores of answering each question with another question's right answer from the same
    split and group (a seeded derangement): chance for a model that ignores the operands."""
    rng = random.Random(seed)
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, ex in enumerate(examples):
        by_key.setdefault((ex.split, ex.group), []).append(i)
    kept, answers = [], []
    for idx in by_key.values():
        if len(idx) < 2:
            continue
        order = idx[:]
        rng.shuffle(order)
        for i, j in zip(order, order[1:] + order[:1]):  # a cycle: nobody gets their own answer
            kept.append(examples[i])
            answers.append(examples[j].target + examples[i].end)
    return aggregate(kept, score_generations(kept, answers, places=places))


def behavior_at(
    model: Any, task: Any, *, config: BehaviorConfig = BehaviorConfig()
) -> tuple[list[BehaviorExample], list[AnswerScore]]:
    """Score one model (e.g. ``run.model(step)``) on the task's questions."""
    examples = _examples(task, config, task.vocab)
    gens = answer_examples(model, examples, task.vocab, extra_tokens=config.extra_tokens)
    return examples, score_generations(examples, gens, places=config.places)


def _examples(task: Any, config: BehaviorConfig, vocab: CharVocab) -> list[BehaviorExample]:
    examples = task_examples(task)
    if config.groups is not None:
        known = sorted({ex.group for ex in examples})
        unknown = [g for g in config.groups if g not in known]
        if unknown:
            raise ValueError(f"unknown operation {unknown[0]!r} for task {task.name}: choose from {', '.join(known)}")
        examples = [ex for ex in examples if ex.group in config.groups]
    examples = pick_examples(examples, config.per_group, seed=config.seed)
    check_vocab(examples, vocab)
    return examples


def spread_steps(steps: Sequence[int], n: int | None) -> list[int]:
    """At most ``n`` of ``steps``, evenly spread by index, first and last always kept."""
    steps = list(steps)
    if n is None or len(steps) <= n:
        return steps
    idx = sorted({round(i * (len(steps) - 1) / (n - 1)) for i in range(n)})
    return [steps[i] for i in idx]


def analyze_behavior(
    run: Any,
    *,
    config: BehaviorConfig = BehaviorConfig(),
    task: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> BehaviorAnalysis:
    """Score the run's greedy answers at its checkpoints (see :class:`BehaviorConfig`).

    ``run`` is a :class:`~grokscope.store.run.Run` or its folder; ``task`` asks the run's models
    another task's questions (their characters must be in the run's vocabulary).
    """
    from grokscope.store.files import CorruptCheckpointError
    from grokscope.store.run import Run

    run = run if isinstance(run, Run) else Run(Path(run))
    own = run.task
    if not hasattr(own, "vocab"):
        raise ValueError(
            f"run {run.name} is not a character-level run (task {own.name}): behavioural scores "
            "need generated text; use `grokscope analyze fourier` for modular runs"
        )
    asked = own if task is None else task
    examples = _examples(asked, config, own.vocab)
    steps = spread_steps(run.steps, config.max_checkpoints)
    if not steps:
        raise ValueError(f"run {run.name} has no checkpoints yet")
    tables, preds, skipped = [], [], []
    for k, step in enumerate(steps):
        try:
            model = run.model(step)
        except (CorruptCheckpointError, KeyError) as e:
            skipped.append((step, str(e)))
            continue
        gens = answer_examples(model, examples, own.vocab, extra_tokens=config.extra_tokens)
        scores = score_generations(examples, gens, places=config.places)
        tables.append(aggregate(examples, scores).assign(step=step))
        preds += [
            dict(step=step, example=i, answer=s.answer, stopped=s.stopped, failure=s.failure, description=s.description)
            for i, s in enumerate(scores)
        ]
        if progress is not None:
            progress(k + 1, len(steps))
    if not tables:
        raise ValueError(f"no checkpoint of run {run.name} could be read: {skipped[0][1] if skipped else ''}")
    return BehaviorAnalysis(
        run=run.name,
        path=str(run.path),
        task=asked.name,
        preset=run.config.preset,
        config=config,
        table=pd.concat(tables, ignore_index=True),
        losses=_losses(run),
        chance=chance_baseline(examples, places=config.places, seed=config.seed),
        examples=pd.DataFrame([dict(prompt=e.prompt, target=e.target, group=e.group, split=e.split) for e in examples]),
        predictions=pd.DataFrame(preds),
        skipped=tuple(skipped),
    )


def _losses(run: Any) -> pd.DataFrame:
    rows = run.metrics_rows()
    cols = [c for c in ("train_loss", "val_loss", "test_loss") if any(c in r for r in rows)]
    if not rows or not cols:
        return pd.DataFrame(columns=["train_loss", "val_loss"], index=pd.Index([], name="step"))
    df = pd.DataFrame(rows).set_index("step")[cols]
    return df.rename(columns={"test_loss": "val_loss"}) if "val_loss" not in cols else df


__all__ = [
    "BehaviorConfig",
    "aggregate",
    "analyze_behavior",
    "answer_examples",
    "behavior_at",
    "chance_baseline",
    "score_generations",
    "split_generation",
    "spread_steps",
]
