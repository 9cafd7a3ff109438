"""Liu et al.'s four phases of a run, from its accuracy curves.

Liu, Kitouni, Nolte, Michaud, Tegmark and Williams ("Towards Understanding Grokking: An Effective
Theory of Representation Learning", NeurIPS 2022) sort runs into four phases by when training
and test accuracy reach 90%:

- **comprehension**: both reach it, test no more than ``window`` steps after train (the model
  generalises as soon as it fits);
- **grokking**: both reach it, test more than ``window`` steps after train (delayed generalisation);
- **memorization**: train reaches it, test never does;
- **confusion**: neither does.

Here the threshold (0.9) and the window (1000 steps, Liu et al.'s 10^3) are the fields of
:class:`PhaseRule`. "Never" means "not by the run's last evaluated step": a run stopped early may
be labelled memorization and grok later, so the phase is the run's as trained.

Two cases the paper does not name are decided so that the phase says whether and when the model
generalised (which is what a phase diagram is read for):

- test reaches the threshold *before* train: generalisation is not delayed, so the run is
  **comprehension** (however far ahead test is: only a delay of test behind train is grokking);
- test reaches it and train never does (the training set is harder than the test set, e.g. noisy
  labels, or the run stopped just before train got there): the model generalised without
  memorising, which is **comprehension** too. ``PhaseResult.train_step`` is then None, so such runs
  stay recognisable.

Thresholds are compared with ``>=``: an accuracy exactly at ``accuracy`` has reached it, and a
delay of exactly ``window`` steps is still comprehension.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PHASES: tuple[str, ...] = ("comprehension", "grokking", "memorization", "confusion")


@dataclass(frozen=True)
class PhaseRule:
    """The thresholds of the phase rule: ``accuracy`` both curves must reach (a fraction in (0, 1]),
    and the ``window`` in steps within which test must follow train for comprehension."""

    accuracy: float = 0.9
    window: int = 1000

    def __post_init__(self) -> None:
        from grokscope.bounds import MAX_COUNT, check_float, check_int

        check_float("PhaseRule accuracy", self.accuracy, lo=0, lo_open=True, hi=1)
        check_int("PhaseRule window", self.window, lo=0, hi=MAX_COUNT)


@dataclass(frozen=True)
class PhaseResult:
    """A run's phase, and the first steps where its train and test accuracy reached the rule's
    threshold (None when they never did)."""

    phase: str
    train_step: int | None
    test_step: int | None

    @property
    def delay(self) -> int | None:
        """Steps from train to test reaching the threshold (negative when test came first), or None."""
        if self.train_step is None or self.test_step is None:
            return None
        return self.test_step - self.train_step


def first_step_reaching(steps: Iterable[Any], values: Iterable[Any], threshold: float) -> int | None:
    """The first (smallest) step whose value is ``>= threshold``; missing and NaN values never reach it."""
    steps, values = list(steps), list(values)
    if len(steps) != len(values):
        raise ValueError(f"{len(steps)} steps but {len(values)} values: give one value per step")
    hits = [int(s) for s, v in zip(steps, values) if _number(v) and v >= threshold]
    return min(hits) if hits else None


def _number(v: Any) -> bool:
    try:
        return v is not None and not isinstance(v, bool) and math.isfinite(float(v))
    except (TypeError, ValueError, OverflowError):
        return False


def classify(
    steps: Iterable[Any], train_acc: Iterable[Any], test_acc: Iterable[Any], rule: PhaseRule = PhaseRule()
) -> PhaseResult:
    """The phase of one run from its evaluated ``steps`` and the train and test accuracy at each
    (equal lengths; None or NaN where an accuracy was not measured). See the module docstring."""
    steps = list(steps)
    train = first_step_reaching(steps, train_acc, rule.accuracy)
    test = first_step_reaching(steps, test_acc, rule.accuracy)
    if test is not None:
        late = train is not None and test - train > rule.window
        return PhaseResult("grokking" if late else "comprehension", train, test)
    return PhaseResult("memorization" if train is not None else "confusion", train, test)


__all__ = ["PHASES", "PhaseResult", "PhaseRule", "classify", "first_step_reaching"]
