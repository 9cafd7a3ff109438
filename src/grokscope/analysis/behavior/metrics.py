"""Behavioural scores of one generated answer against its target: small pure functions on strings.

Token-level loss gives ``8912108912101025`` for ``891210`` the same verdict as ``17``; these
scores say what was right about it (the digits, then no stop). Every function takes the model's
``answer`` (its generation cut at the end-of-answer token) and the ``target`` answer, both as
text, and never raises on a malformed answer: a non-number simply scores as wrong.

Numbers are ``-?digits(.digits)?``; numeric scores are ``None`` when the *target* is not a
number (e.g. the capitals task), so they apply to any character-level task.

>>> digit_accuracy("968", "958")
0.6666666666666666
>>> termination("8912108912101025", "891210", stopped=True)
'ran_on'
>>> decimal_places_correct("10.69620253", "10.696202531")
8
"""

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")

Termination = Literal["ok", "early", "ran_on"]


def parse_number(s: str) -> Decimal | None:
    """The exact value of ``s`` if it is a plain decimal number (``-12``, ``0.38``), else ``None``."""
    return Decimal(s) if NUMBER.match(s) else None


def is_number(s: str) -> bool:
    return NUMBER.match(s) is not None


def exact_match(answer: str, target: str) -> bool:
    """The whole answer, character for character (``3.0`` is not ``3``: the format is part of the task)."""
    return answer == target


def char_accuracy(answer: str, target: str) -> float:
    """Fraction of positions, left-aligned, where the characters agree, over the longer of the two.

    Applies to any target (words too). Extra or missing characters count as wrong positions.
    """
    n = max(len(answer), len(target))
    if n == 0:
        return 1.0
    return sum(a == t for a, t in zip(answer, target)) / n


def correct_prefix(answer: str, target: str) -> int:
    """Number of leading characters the answer gets right."""
    n = 0
    for a, t in zip(answer, target):
        if a != t:
            break
        n += 1
    return n


def place_digits(number: str) -> dict[int, str]:
    """Digits by place value: 0 is units, 1 tens, -1 tenths. ``"10.5"`` -> ``{1: "1", 0: "0", -1: "5"}``."""
    whole, _, frac = number.lstrip("-").partition(".")
    places = {len(whole) - 1 - i: d for i, d in enumerate(whole)}
    places.update({-1 - i: d for i, d in enumerate(frac)})
    return places


def digit_accuracy(answer: str, target: str) -> float | None:
    """Fraction of place values (units with units, tenths with tenths) holding the same digit.

    The positions are the union of both numbers' places, so a missing digit and a surplus digit both
    count as wrong: ``968`` for ``958`` scores 2/3, ``8912108912101025`` for ``891210`` scores 1/16
    (right digits, wrong places). The sign is not a digit (see :func:`sign_correct`).
    ``None`` when the target is not a number; 0.0 when only the answer is not.
    """
    if not is_number(target):
        return None
    if not is_number(answer):
        return 0.0
    a, t = place_digits(answer), place_digits(target)
    places = a.keys() | t.keys()
    return sum(a.get(p) == t.get(p) for p in places) / len(places)


def relative_error(answer: str, target: str) -> float | None:
    """``|answer - target| / |target|`` (``|answer|`` when the target is 0); ``inf`` for a non-number."""
    t = parse_number(target)
    if t is None:
        return None
    a = parse_number(answer)
    if a is None:
        return math.inf
    return float(abs(a - t) / abs(t)) if t != 0 else float(abs(a))


def sign_correct(answer: str, target: str) -> bool | None:
    """Whether the answer is a number with the target's sign (zero counts as non-negative)."""
    t = parse_number(target)
    if t is None:
        return None
    a = parse_number(answer)
    return a is not None and (a < 0) == (t < 0)


def order_of_magnitude(x: Decimal) -> int | None:
    """``floor(log10(|x|))``, exactly (958 -> 2, 0.38 -> -1); ``None`` for zero."""
    return None if x == 0 else x.adjusted()


def magnitude_correct(answer: str, target: str) -> bool | None:
    """Whether the answer's order of magnitude (power of ten) is the target's; the sign is ignored."""
    t = parse_number(target)
    if t is None:
        return None
    a = parse_number(answer)
    return a is not None and order_of_magnitude(a) == order_of_magnitude(t)


def termination(answer: str, target: str, *, stopped: bool) -> Termination:
    """Where the model stopped: ``ok`` (right length), ``early`` (too short) or ``ran_on`` (too long, or never stopped).

    Lengths are compared without a leading minus sign when both are numbers, so a sign error is
    not mistaken for a termination error.
    """
    if is_number(answer) and is_number(target):
        answer, target = answer.lstrip("-"), target.lstrip("-")
    if not stopped or len(answer) > len(target):
        return "ran_on"
    return "early" if len(answer) < len(target) else "ok"


def ran_on_after_answer(answer: str, target: str) -> bool:
    """The whole target, then more: ``8912108912101025`` for ``891210`` (it can compute, not stop)."""
    return len(answer) > len(target) > 0 and answer.startswith(target)


def decimal_places_correct(answer: str, target: str) -> int | None:
    """How many decimal places agree once sign and integer part do; -1 when those differ.

    Missing decimals count as zeros (``3`` equals ``3.00`` to 2 places), so this is a numeric
    comparison truncated to k places, not a string one. ``None`` when the target is not a number.
    """
    if not is_number(target):
        return None
    if not is_number(answer):
        return -1
    (a_neg, a_whole, a_frac), (t_neg, t_whole, t_frac) = _parts(answer), _parts(target)
    signs_differ = a_neg != t_neg and not (parse_number(answer) == 0 == parse_number(target))
    if signs_differ or int(a_whole) != int(t_whole):
        return -1
    n = max(len(a_frac), len(t_frac))
    a_frac, t_frac = a_frac.ljust(n, "0"), t_frac.ljust(n, "0")
    return correct_prefix(a_frac, t_frac)


def decimal_match(answer: str, target: str, places: int) -> bool | None:
    """Whether the answer equals the target when both are truncated to ``places`` decimals."""
    k = decimal_places_correct(answer, target)
    return None if k is None else k >= places


def _parts(number: str) -> tuple[bool, str, str]:
    whole, _, frac = number.lstrip("-").partition(".")
    return number.startswith("-"), whole, frac


def operation_distance(answer: str, candidate: str) -> float:
    """How far the answer is from one operation's answer: its relative error, or 0 when the answer
    is that answer followed by more characters (``-308781889`` for ``-308`` did the right thing)."""
    if ran_on_after_answer(answer, candidate):
        return 0.0
    err = relative_error(answer, candidate)
    return math.inf if err is None else err


def closest_operations(answer: str, candidates: Mapping[str, str], *, tol: float = 0.5) -> tuple[str, ...]:
    """The operations whose answer is nearest to this one (ties kept), or ``()`` when none is within ``tol``.

    ``candidates`` maps each operation to its correctly formatted answer for the same operands.
    """
    dist = {op: operation_distance(answer, c) for op, c in candidates.items()}
    best = min(dist.values(), default=math.inf)
    if best > tol:
        return ()
    return tuple(op for op, d in dist.items() if d == best)


def operation_consistent(answer: str, op: str, candidates: Mapping[str, str], *, tol: float = 0.5) -> bool:
    """Whether the right operation ``op`` is (one of) the nearest: the model did the right thing, maybe imprecisely."""
    return op in closest_operations(answer, candidates, tol=tol)


__all__ = [
    "NUMBER",
    "Termination",
    "char_accuracy",
    "closest_operations",
    "correct_prefix",
    "decimal_match",
    "decimal_places_correct",
    "digit_accuracy",
    "exact_match",
    "is_number",
    "magnitude_correct",
    "operation_consistent",
    "operation_distance",
    "order_of_magnitude",
    "parse_number",
    "place_digits",
    "ran_on_after_answer",
    "relative_error",
    "sign_correct",
    "termination",
]
