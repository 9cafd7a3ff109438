"""Range checks of the numbers in configs and tasks: a ``ValueError`` naming the field, the value and the range.

The frozen config dataclasses call these in ``__post_init__``, so a config exists only with sane
numbers, and the command line refuses a bad one before it writes anything. NaN lies in no range
and fails every check (``nan <= 0`` alone would let it through); so do infinities, bools and the
strings a damaged ``run.json`` may hold. No imports beyond the standard library, so configs and
tasks (torch-free both) can use it.
"""

import math
from numbers import Integral, Real
from typing import Any

MAX_COUNT = 10**9
"""Most steps, intervals, batch sizes and problem counts: more is a typo, not a plan."""
MIN_SEED, MAX_SEED = -(2**63), 2**63 - 1
"""Seeds lie in MIN_SEED..MAX_SEED: what ``torch.Generator.manual_seed`` takes on every platform
(negative seeds included: runs trained with one must stay readable)."""


def check_int(name: str, value: Any, *, lo: int = 1, hi: int = MAX_COUNT, none_ok: bool = False) -> None:
    """``value`` is an integer (not a bool) in ``lo..hi``, or ``None`` when ``none_ok``.

    >>> check_int("steps", 3000)
    >>> check_int("batch_size", None, none_ok=True)
    >>> check_int("steps", True)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an integer in 1..1000000000, got True
    """
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{' or None' if none_ok else ''}, got {value!r}")


def check_seed(name: str, value: Any) -> None:
    check_int(name, value, lo=MIN_SEED, hi=MAX_SEED)


def check_float(
    name: str, value: Any, *, lo: float | int, hi: float | int = math.inf, lo_open: bool = False, hi_open: bool = False
) -> None:
    """``value`` is a finite real number (not a bool) between ``lo`` and ``hi``, each bound included
    unless ``lo_open`` / ``hi_open``.

    >>> check_float("frac", 0.3, lo=0, hi=1, lo_open=True, hi_open=True)
    >>> check_float("frac", float("nan"), lo=0, hi=1, lo_open=True, hi_open=True)
    Traceback (most recent call last):
    ...
    ValueError: frac must be in (0, 1), got nan
    """
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)
    if not ok:
        if math.isinf(hi):
            allowed = f"{'>' if lo_open else '>='} {lo:g} and finite"
        else:
            allowed = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
