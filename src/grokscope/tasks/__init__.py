"""Task registry: ``get_task("mod97")``, ``get_task("arith")`` and friends."""

import re
from dataclasses import fields
from collections.abc import Callable
from typing import Any

from grokscope.tasks.char_arith import CharArithTask
from grokscope.tasks.facts import CapitalsTask, JointTask
from grokscope.tasks.modular import OP_FORMULAS, OPS, ModularTask, is_prime
from grokscope.tasks.text import TextTask, is_text_task
from grokscope.tasks.vocab import CharVocab

Task = ModularTask | TextTask

# Character-level tasks: name -> class; "<name>-clean" picks the clean evaluation protocol.
CHAR_TASKS: dict[str, Callable[..., Any]] = {"arith": CharArithTask, "capitals": CapitalsTask, "joint": JointTask}
# Rebuild a task from its to_dict() by its "kind" key (run.json).
TASK_KINDS: dict[str, Callable[..., Any]] = {"modular": ModularTask, "char_arith": CharArithTask,
                                             "capitals": CapitalsTask, "joint": JointTask}
# Word-operation arithmetic (issue #6): `grokscope train --task wordops`, kind "word_ops".
from grokscope.tasks.word_ops import WordOpsTask  # noqa: E402

CHAR_TASKS["wordops"] = WordOpsTask
TASK_KINDS["word_ops"] = WordOpsTask

_MOD = re.compile(r"^mod(\d+)(?:-(\w+))?$")


def get_task(name: str, *, op: str | None = None, frac: float = 0.3, seed: int = 0) -> Task:
    """Build a task from its name.

    ``mod97`` is ``a + b mod 97``; ``mod113-sub`` (or ``mod113`` with ``op="sub"``) picks another
    operation. ``op`` given both ways must agree.
    """
    if is_char_task_name(name):
        return get_char_task(name)
    m = _MOD.match(name)
    if m is None:
        raise ValueError(
            f"unknown task {name!r}: use mod<p> (e.g. mod97) or mod<p>-<op> with op one of "
            f"{', '.join(OPS)}, or a character-level task: {', '.join(CHAR_TASKS)} (-clean for the clean eval)"
        )
    p, name_op = int(m.group(1)), m.group(2)
    if name_op and op and name_op != op:
        raise ValueError(f"task {name!r} names op {name_op!r} but --op says {op!r}: give one")
    return ModularTask(p=p, op=name_op or op or "add", frac=frac, seed=seed)


def get_char_task(name: str, **kwargs: Any) -> Any:
    """A character-level task by name (``arith``, ``capitals``, ``joint``; ``-clean`` suffix for the
    clean evaluation); ``kwargs`` are the task's fields (``block_size``, ``batch_size``, ...)."""
    base, _, mode = name.partition("-")
    if base not in CHAR_TASKS or mode not in ("", "clean", "paper"):
        raise ValueError(f"unknown character-level task {name!r}: choose one of "
                         f"{', '.join(CHAR_TASKS)} (add -clean for the clean evaluation)")
    if mode and "eval_mode" not in {f.name for f in fields(CHAR_TASKS[base])}:
        raise ValueError(f"task {base!r} has one evaluation protocol: use --task {base} without -{mode}")
    if mode == "clean":
        kwargs = {"eval_mode": "clean", "eval_samples": 1, "eval_temperature": 0.0, "eval_top_k": None} | kwargs
    return CHAR_TASKS[base](**kwargs)


def is_char_task_name(name: str) -> bool:
    return name.partition("-")[0] in CHAR_TASKS


def task_from_dict(d: dict) -> Task:
    d = dict(d)
    kind = d.pop("kind", "modular")
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r} in run config")
    return TASK_KINDS[kind](**d)


__all__ = ["CHAR_TASKS", "OPS", "OP_FORMULAS", "TASK_KINDS", "CapitalsTask", "CharArithTask", "CharVocab",
           "JointTask", "ModularTask", "Task", "TextTask", "get_char_task", "get_task", "is_char_task_name",
           "is_prime", "is_text_task", "task_from_dict"]
