"""Task registry: ``get_task("mod97")``, ``get_task("arith")`` and friends."""

import re
from dataclasses import fields
from typing import Any, cast

from grokscope.tasks.char_arith import CharArithTask
from grokscope.tasks.facts import CapitalsTask, JointTask
from grokscope.tasks.modular import OP_FORMULAS, OPS, ModularTask, Op, is_prime
from grokscope.tasks.text import TextTask, is_text_task
from grokscope.tasks.vocab import CharVocab

Task = ModularTask | TextTask

# Character-level tasks: name -> class; "<name>-clean" picks the clean evaluation protocol.
CHAR_TASKS: dict[str, type[Any]] = {"arith": CharArithTask, "capitals": CapitalsTask, "joint": JointTask}
# Rebuild a task from its to_dict() by its "kind" key (run.json).
TASK_KINDS: dict[str, type[Any]] = {
    "modular": ModularTask,
    "char_arith": CharArithTask,
    "capitals": CapitalsTask,
    "joint": JointTask,
}
# Word-operation arithmetic (issue #6): `grokscope train --task wordops`, kind "word_ops".
from grokscope.tasks.word_ops import MAX_OPERAND, WordOpsTask  # noqa: E402

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
    return ModularTask(p=p, op=cast(Op, name_op or op or "add"), frac=frac, seed=seed)  # the task checks the op


def get_char_task(name: str, **kwargs: Any) -> Any:
    """A character-level task by name (``arith``, ``capitals``, ``joint``; ``-clean`` suffix for the
    clean evaluation); ``kwargs`` are the task's fields (``block_size``, ``batch_size``, ...)."""
    base, _, mode = name.partition("-")
    if base not in CHAR_TASKS or mode not in ("", "clean", "paper"):
        raise ValueError(
            f"unknown character-level task {name!r}: choose one of "
            f"{', '.join(CHAR_TASKS)} (add -clean for the clean evaluation)"
        )
    if mode and "eval_mode" not in {f.name for f in fields(CHAR_TASKS[base])}:
        raise ValueError(f"task {base!r} has one evaluation protocol: use --task {base} without -{mode}")
    if mode == "clean":
        kwargs = {"eval_mode": "clean", "eval_samples": 1, "eval_temperature": 0.0, "eval_top_k": None} | kwargs
    return CHAR_TASKS[base](**kwargs)


# Options of make_task and the tasks they apply to (for the one-line error when one does not).
MODULAR_OPTIONS = ("op", "frac")
CHAR_OPTIONS = ("block_size", "facts_file")
WORD_OPS_OPTIONS = ("ops", "operands", "decimals", "n_train", "n_test")
_RANGE = re.compile(r"^(-?[0-9]+)\.\.(-?[0-9]+)$")


def make_task(name: str, *, seed: int | None = None, **options: Any) -> Task:
    """A task from its name and the options a user gives for it (``None`` means "the default").

    ``op``, ``frac`` apply to ``mod<p>`` tasks (``seed`` fixes their split); ``block_size`` and
    ``facts_file`` to the character-level ones (``facts_file`` to capitals and joint); ``ops``
    (``"SUM,DIVIDE"`` or a sequence), ``operands`` (``"LOW..HIGH"`` or a pair), ``decimals``,
    ``n_train`` and ``n_test`` to ``wordops``. An option given for a task it does not apply to
    is a ``ValueError`` naming it.
    """
    given = {k: v for k, v in options.items() if v is not None}
    unknown = set(given) - {*MODULAR_OPTIONS, *CHAR_OPTIONS, *WORD_OPS_OPTIONS}
    if unknown:
        raise ValueError(f"unknown task option {sorted(unknown)[0]!r}")
    base = name.partition("-")[0]
    if not is_char_task_name(name):
        refuse_options(
            given, (*CHAR_OPTIONS, *WORD_OPS_OPTIONS), "character-level tasks (arith, capitals, joint, wordops)"
        )
        frac = given.get("frac", 0.3)
        return get_task(name, op=given.get("op"), frac=frac, seed=0 if seed is None else seed)
    refuse_options(given, MODULAR_OPTIONS, "mod<p> tasks", f", not to character-level task {name}")
    if base != "wordops":
        refuse_options(given, WORD_OPS_OPTIONS, "the wordops task", f", not to {name}")
    kwargs: dict[str, Any] = {}
    if "block_size" in given:
        if base == "wordops":
            raise ValueError("--block-size does not apply to wordops: its block is the longest line")
        kwargs["block_size"] = given["block_size"]
    if "facts_file" in given:
        if base == "arith":
            raise ValueError("--facts-file applies to the capitals and joint tasks only")
        kwargs["facts_file"] = str(given["facts_file"])
    if "ops" in given:
        ops = given["ops"]
        ops = ops.split(",") if isinstance(ops, str) else ops
        kwargs["ops"] = tuple(o.strip().upper() for o in ops if o.strip())
    if "operands" in given:
        kwargs["low"], kwargs["high"] = _operand_range(given["operands"])
    kwargs |= {k: given[k] for k in ("decimals", "n_train", "n_test") if k in given}
    return get_char_task(name, **kwargs)


def refuse_options(given: dict[str, Any], names: tuple[str, ...], where: str, suffix: str = "") -> None:
    """A ``ValueError`` naming the first of ``names`` in ``given``: an option for other tasks than this one."""
    bad = [k for k in names if k in given]
    if bad:
        raise ValueError(f"--{bad[0].replace('_', '-')} applies to {where} only{suffix}")


def _operand_range(value: Any) -> tuple[Any, Any]:
    """``"LOW..HIGH"`` or a pair as ``(low, high)``; :class:`WordOpsTask` checks they are integers in range."""
    if isinstance(value, str):
        m = _RANGE.match(value.strip())
        if m is None:
            raise ValueError(f"--operands {value!r}: write the range as LOW..HIGH, e.g. 0..999")
        if max(len(m.group(1)), len(m.group(2))) > 20:  # int() of thousands of digits fails, slowly
            shown = value.strip() if len(value.strip()) <= 50 else value.strip()[:40] + "..."
            raise ValueError(f"--operands {shown}: operands must lie in {-MAX_OPERAND}..{MAX_OPERAND}")
        return int(m.group(1)), int(m.group(2))
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"operands {value!r}: give a pair LOW, HIGH or the string 'LOW..HIGH'") from None
    return low, high


def is_char_task_name(name: str) -> bool:
    return name.partition("-")[0] in CHAR_TASKS


def task_from_dict(d: dict) -> Task:
    d = dict(d)
    kind = d.pop("kind", "modular")
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r} in run config")
    return TASK_KINDS[kind](**d)


__all__ = [
    "CHAR_TASKS",
    "OPS",
    "OP_FORMULAS",
    "TASK_KINDS",
    "CapitalsTask",
    "CharArithTask",
    "CharVocab",
    "JointTask",
    "ModularTask",
    "Task",
    "TextTask",
    "get_char_task",
    "get_task",
    "is_char_task_name",
    "is_prime",
    "is_text_task",
    "make_task",
    "refuse_options",
    "task_from_dict",
]
