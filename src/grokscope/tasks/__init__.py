"""Task registry: ``get_task("mod97")`` and friends."""

import re

from grokscope.tasks.modular import OP_FORMULAS, OPS, ModularTask, is_prime

Task = ModularTask

_MOD = re.compile(r"^mod(\d+)(?:-(\w+))?$")


def get_task(name: str, *, op: str | None = None, frac: float = 0.3, seed: int = 0) -> Task:
    """Build a task from its name.

    ``mod97`` is ``a + b mod 97``; ``mod113-sub`` (or ``mod113`` with ``op="sub"``) picks another
    operation. ``op`` given both ways must agree.
    """
    m = _MOD.match(name)
    if m is None:
        raise ValueError(
            f"unknown task {name!r}: use mod<p> (e.g. mod97) or mod<p>-<op> with op one of "
            f"{', '.join(OPS)}"
        )
    p, name_op = int(m.group(1)), m.group(2)
    if name_op and op and name_op != op:
        raise ValueError(f"task {name!r} names op {name_op!r} but --op says {op!r}: give one")
    return ModularTask(p=p, op=name_op or op or "add", frac=frac, seed=seed)


def task_from_dict(d: dict) -> Task:
    d = dict(d)
    kind = d.pop("kind", "modular")
    if kind != "modular":
        raise ValueError(f"unknown task kind {kind!r} in run config")
    return ModularTask(**d)


__all__ = ["OPS", "OP_FORMULAS", "ModularTask", "Task", "get_task", "is_prime", "task_from_dict"]
