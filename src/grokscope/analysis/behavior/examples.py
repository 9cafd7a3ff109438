"""Prompts and target answers of a character-level task, for behavioural scoring.

Each task family says what a question is, what its answer is, where an answer ends and which
group (operation) it belongs to. A task of another kind can take part by defining
``behavior_examples() -> list[BehaviorExample]`` itself.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grokscope.tasks.vocab import CharVocab


@dataclass(frozen=True, kw_only=True)
class BehaviorExample:
    """One question: the model reads ``prompt`` and should write ``target`` then ``end``.

    ``candidates`` maps every operation to its answer on the same operands (empty where the task
    has no operations), for "did it do the right operation?".
    """

    prompt: str
    target: str
    end: str
    group: str
    split: str
    candidates: dict[str, str] = field(default_factory=dict)


def task_examples(task: Any) -> list[BehaviorExample]:
    """Every question the task can be scored on, in a fixed order."""
    if hasattr(task, "behavior_examples"):
        return list(task.behavior_examples())
    kind = getattr(task, "kind", None)
    if kind == "word_ops":
        return _word_ops(task)
    if kind == "char_arith":
        return _char_arith(task)
    if kind == "capitals":
        return _capitals(task)
    if kind == "joint":
        return _char_arith(task.arith) + _capitals(task)
    raise ValueError(
        f"task {getattr(task, 'name', task)!r} (kind {kind!r}) has no behavioural examples: "
        "use a character-level task (wordops, arith, capitals, joint)"
    )


def pick_examples(examples: Sequence[BehaviorExample], per_group: int, *, seed: int = 0) -> list[BehaviorExample]:
    """At most ``per_group`` examples of each (split, group), drawn by ``seed``, in a stable order."""
    by_key: dict[tuple[str, str], list[BehaviorExample]] = {}
    for ex in examples:
        by_key.setdefault((ex.split, ex.group), []).append(ex)
    rng = random.Random(seed)
    out: list[BehaviorExample] = []
    for key in sorted(by_key):
        group = by_key[key]
        out += (
            group if len(group) <= per_group else [group[i] for i in sorted(rng.sample(range(len(group)), per_group))]
        )
    return out


def check_vocab(examples: Sequence[BehaviorExample], vocab: CharVocab) -> None:
    """The model must be able to read every prompt and write every answer and end token."""
    needed = set().union(*(set(ex.prompt + ex.target + ex.end) for ex in examples)) if examples else set()
    missing = sorted(needed - set(vocab.chars))
    if missing:
        raise ValueError(
            f"the model's vocabulary {vocab.chars!r} lacks characters the questions need: {''.join(missing)!r}"
        )


def _word_ops(task: Any) -> list[BehaviorExample]:
    return [
        BehaviorExample(
            prompt=task.prompt(op, a, b),
            target=task.answer(op, a, b),
            end=task.end,
            group=op,
            split=split,
            candidates=task.candidates(a, b),
        )
        for split in ("train", "test")
        for op, a, b in task.problems(split)
    ]


def _char_arith(task: Any) -> list[BehaviorExample]:
    # The paper's task: every pair is in the training text except the held-out ones, its test set.
    n, out = task.max_operand + 1, []
    for op, group in (("+", "add"), ("-", "sub")):
        if op not in task.ops:
            continue
        for a in range(n):
            for b in range(n):
                cands = {g: str(a + b if o == "+" else a - b) for o, g in (("+", "add"), ("-", "sub")) if o in task.ops}
                out.append(
                    BehaviorExample(
                        prompt=f"<{a}{op}{b}=",
                        target=cands[group],
                        end=">",
                        group=group,
                        split="test" if task.is_held_out(a, b) else "train",
                        candidates=cands,
                    )
                )
    return out


def _capitals(task: Any) -> list[BehaviorExample]:
    # Lines are "Capital of X is Y \n": the answer ends at " \n" (capitals may hold spaces).
    return [
        BehaviorExample(prompt=f"Capital of {country} is ", target=capital, end=" \n", group="capitals", split="train")
        for country, capital in task.facts
    ]


__all__ = ["BehaviorExample", "check_vocab", "pick_examples", "task_examples"]
