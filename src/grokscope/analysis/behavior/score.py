"""All behavioural scores of one answer at once, and the failure it shows, named like the blog's table.

>>> s = score_answer("8912108912101025", "891210", op="MULTIPLY")
>>> s.failure, s.description
('ran_on', 'right answer, then ran on (+10 chars)')
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from grokscope.analysis.behavior import metrics as bm

Failure = Literal[
    "exact",
    "empty",
    "ran_on",
    "decimals",
    "early",
    "not_a_number",
    "wrong_operation",
    "close",
    "wrong_sign",
    "sign_magnitude",
    "wrong_magnitude",
    "wrong",
]

# In the order they are tested: the first that fits names the answer.
FAILURES: dict[str, str] = {
    "exact": "exact match",
    "empty": "stopped at once (empty answer)",
    "ran_on": "the whole right answer, then more characters: it computes but does not stop",
    "decimals": "a decimal answer right to k >= 2 places but not exact",
    "early": "right so far, stopped too early",
    "not_a_number": "the target is a number, the answer is not",
    "wrong_operation": "nearest to another operation's answer than to the right one's",
    "close": "within 25% of the target with the right sign, digits wrong",
    "wrong_sign": "wrong sign",
    "sign_magnitude": "right sign and order of magnitude, digits wrong",
    "wrong_magnitude": "right sign, wrong order of magnitude",
    "wrong": "a non-numeric answer that is wrong",
}

CLOSE = 0.25  # relative error under which a wrong answer is "numerically close"
MIN_DECIMALS = 2  # one matching decimal happens by chance one time in ten: not worth naming


@dataclass(frozen=True, kw_only=True)
class AnswerScore:
    """Every score of one answer (see :mod:`grokscope.analysis.behavior.metrics`); ``None`` = not applicable."""

    answer: str
    target: str
    stopped: bool
    exact: bool
    char_accuracy: float
    correct_prefix: int
    digit_accuracy: float | None
    relative_error: float | None
    sign_correct: bool | None
    magnitude_correct: bool | None
    termination: bm.Termination
    decimal_places: int | None  # places right, for targets with decimals; -1 = integer part or sign wrong
    decimal_match: bool | None  # right to ``places`` decimals
    operation_consistent: bool | None
    closest_operations: tuple[str, ...] = field(default=())
    failure: Failure
    description: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["closest_operations"] = list(self.closest_operations)
        return d


def score_answer(
    answer: str,
    target: str,
    *,
    stopped: bool = True,
    op: str | None = None,
    candidates: Mapping[str, str] | None = None,
    places: int = 2,
) -> AnswerScore:
    """Score ``answer`` (cut at the end token; ``stopped`` says whether the token came) against ``target``.

    ``candidates`` maps every operation to its answer on the same operands, for the operation check;
    ``places`` is k of the decimal-aware match (used only when the target has decimals).
    """
    is_decimal = bm.is_number(target) and "." in target
    dec = bm.decimal_places_correct(answer, target) if is_decimal else None
    closest = bm.closest_operations(answer, candidates) if candidates and bm.is_number(target) else ()
    consistent = (op in closest) if candidates and op is not None and bm.is_number(target) else None
    fields_: dict[str, Any] = dict(
        answer=answer,
        target=target,
        stopped=stopped,
        exact=stopped and bm.exact_match(answer, target),
        char_accuracy=bm.char_accuracy(answer, target),
        correct_prefix=bm.correct_prefix(answer, target),
        digit_accuracy=bm.digit_accuracy(answer, target),
        relative_error=bm.relative_error(answer, target),
        sign_correct=bm.sign_correct(answer, target),
        magnitude_correct=bm.magnitude_correct(answer, target),
        termination=bm.termination(answer, target, stopped=stopped),
        decimal_places=dec,
        decimal_match=None if dec is None else dec >= places,
        operation_consistent=consistent,
        closest_operations=closest,
    )
    failure, description = _classify(fields_, op)
    return AnswerScore(**fields_, failure=failure, description=description)


def _classify(s: dict[str, Any], op: str | None) -> tuple[Failure, str]:
    answer, target = s["answer"], s["target"]
    if s["exact"]:
        return "exact", "exact match"
    if answer == "":
        return "empty", "stopped at once"
    if bm.ran_on_after_answer(answer, target) or (not s["stopped"] and answer == target):
        return "ran_on", f"right answer, then ran on (+{len(answer) - len(target)} chars)"
    dec = s["decimal_places"]
    if dec is not None and dec >= MIN_DECIMALS:
        n_target = len(target.partition(".")[2])
        how = {"early": ", stopped early", "ran_on": ", ran on"}.get(s["termination"], "")
        return "decimals", f"right to {dec} of {n_target} decimals{how}"
    if target.startswith(answer) and s["stopped"]:
        return "early", f"right so far ({len(answer)} of {len(target)} chars), stopped early"
    if s["digit_accuracy"] is None:
        return "wrong", f"wrong (first {s['correct_prefix']} chars right)"
    if not bm.is_number(answer):
        return "not_a_number", "not a number"
    if s["closest_operations"] and op is not None and op not in s["closest_operations"]:
        return "wrong_operation", f"looks like {' or '.join(s['closest_operations'])}, not {op}"
    if s["sign_correct"] and s["relative_error"] <= CLOSE:
        err = s["relative_error"]
        off = f"{err:.0%}" if err >= 0.01 else f"{err:.2%}"  # "0% off" would read as right
        return "close", f"numerically close ({off} off), wrong digits"
    if not s["sign_correct"]:
        return "wrong_sign", "wrong sign" + ("" if s["magnitude_correct"] else " and magnitude")
    if s["magnitude_correct"]:
        return "sign_magnitude", "right sign and magnitude, wrong digits"
    return "wrong_magnitude", f"right sign, wrong magnitude ({_scale(answer)} for {_scale(target)})"


def _scale(number: str) -> str:
    x = bm.parse_number(number)
    assert x is not None, number  # _classify asks only for the scale of numbers
    k = bm.order_of_magnitude(x)
    return "0" if k is None else f"10^{k}"


__all__ = ["FAILURES", "AnswerScore", "Failure", "score_answer"]
