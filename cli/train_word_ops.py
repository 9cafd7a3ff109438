"""The ``grokscope train`` options of the word-operation task and of ``--init-from`` (issue #6).

``cli/train_lm.py`` calls these, so the parsing lives beside neither the modular nor the
nanoGPT options. Torch-free until ``--init-from`` is actually used.
"""

import re
from pathlib import Path
from typing import Any

RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def word_ops_kwargs(task: str | None, opts: dict[str, Any]) -> dict[str, Any]:
    """``WordOpsTask`` fields from ``--ops SUM,DIVIDE --operands 0..999 --decimals 4 --n-train --n-test``.

    Any of them given for another task is an error naming the flag.
    """
    given = {k: v for k, v in opts.items() if v is not None}
    if not given:
        return {}
    if task is None or task.partition("-")[0] != "wordops":
        flag = next(iter(given)).replace("_", "-")
        raise ValueError(f"--{flag} applies to the wordops task only, not to {task}")
    out: dict[str, Any] = {}
    if "ops" in given:
        out["ops"] = tuple(o.strip().upper() for o in given["ops"].split(",") if o.strip())
    if "operands" in given:
        m = RANGE.match(given["operands"].strip())
        if m is None:
            raise ValueError(f"--operands {given['operands']!r}: write the range as LOW..HIGH, e.g. 0..999")
        out["low"], out["high"] = int(m.group(1)), int(m.group(2))
    for k in ("decimals", "n_train", "n_test"):
        if k in given:
            out[k] = given[k]
    return out


def init_from_state(folder: Path, preset: str | None, task: Any) -> tuple[str, dict[str, Any]]:
    """The preset and the fitted initial parameters of ``--init-from FOLDER`` (see ``models/init_from.py``)."""
    from grokscope.models.init_from import init_state

    return init_state(folder, preset, task)
