"""Liu et al.'s phase rule on hand-made accuracy curves: the four phases, the exact boundaries, and
the cases the paper leaves open (test before train, test without train)."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from grokscope.sweeps.phases import PHASES, PhaseResult, PhaseRule, classify, first_step_reaching
from tests.conftest import tl_independent

pytestmark = tl_independent

STEPS = list(range(0, 5001, 100))


def ramp(at: int | None, *, low: float = 0.1, high: float = 1.0) -> list[float]:
    """An accuracy curve that sits at ``low`` and jumps to ``high`` at step ``at`` (never when None)."""
    return [high if at is not None and s >= at else low for s in STEPS]


def test_comprehension_both_reach_close_together():
    r = classify(STEPS, ramp(300), ramp(800))
    assert r == PhaseResult("comprehension", 300, 800)
    assert r.delay == 500


def test_grokking_test_long_after_train():
    r = classify(STEPS, ramp(200), ramp(3000))
    assert r == PhaseResult("grokking", 200, 3000)
    assert r.delay == 2800


def test_memorization_train_only():
    assert classify(STEPS, ramp(400), ramp(None, high=0.5)) == PhaseResult("memorization", 400, None)


def test_confusion_neither():
    assert classify(STEPS, ramp(None, high=0.6), ramp(None, high=0.4)) == PhaseResult("confusion", None, None)


def test_every_phase_is_named_in_PHASES():
    results = {classify(STEPS, ramp(a), ramp(b)).phase for a, b in ((0, 0), (0, 4000), (0, None), (None, None))}
    assert results == set(PHASES)


@pytest.mark.parametrize(("test_at", "phase"), [(1100, "comprehension"), (1200, "grokking")])
def test_window_boundary_is_inclusive(test_at, phase):
    # train at 100: a delay of exactly 1000 steps is still comprehension, one evaluation more is grokking
    assert classify(STEPS, ramp(100), ramp(test_at)).phase == phase


def test_window_boundary_to_the_step():
    steps = [0, 10, 1010, 1011]
    train, test = [0.0, 0.95, 0.95, 0.95], [0.0, 0.0, 0.9, 0.9]
    assert classify(steps, train, test) == PhaseResult("comprehension", 10, 1010)
    assert classify(steps, train, [0.0, 0.0, 0.0, 0.9]) == PhaseResult("grokking", 10, 1011)


def test_threshold_exactly_reached_counts():
    assert classify([0, 1, 2], [0.5, 0.9, 0.9], [0.5, 0.5, 0.9]) == PhaseResult("comprehension", 1, 2)
    assert classify([0, 1, 2], [0.5, 0.8999999, 0.9], [0.5, 0.5, 0.8999999]) == PhaseResult("memorization", 2, None)


def test_test_before_train_is_comprehension_however_early():
    assert classify(STEPS, ramp(900), ramp(300)) == PhaseResult("comprehension", 900, 300)
    r = classify(STEPS, ramp(4500), ramp(100))  # test 4400 steps ahead: generalisation was not delayed
    assert r.phase == "comprehension" and r.delay == -4400


def test_test_without_train_is_comprehension_with_no_train_step():
    r = classify(STEPS, ramp(None, high=0.8), ramp(2000))
    assert r == PhaseResult("comprehension", None, 2000)
    assert r.delay is None


def test_missing_and_nan_values_never_reach():
    steps = [0, 10, 20, 30]
    train = [None, float("nan"), 0.95, 0.99]
    test = [float("nan"), None, None, 0.5]
    assert classify(steps, train, test) == PhaseResult("memorization", 20, None)


def test_first_step_is_the_smallest_whatever_the_order():
    assert first_step_reaching([30, 10, 20], [0.95, 0.95, 0.1], 0.9) == 10
    assert first_step_reaching([], [], 0.9) is None


def test_a_dip_after_reaching_does_not_undo_it():
    train = [0.1, 0.95, 0.2, 0.3]
    assert classify([0, 10, 20, 30], train, [0.1, 0.1, 0.1, 0.1]).train_step == 10


def test_numpy_and_pandas_curves():
    steps = np.array(STEPS)
    r = classify(steps, pd.Series(ramp(100)), np.array(ramp(2500)))
    assert r == PhaseResult("grokking", 100, 2500)
    assert isinstance(r.train_step, int) and isinstance(r.test_step, int)


def test_custom_rule():
    rule = PhaseRule(accuracy=0.99, window=100)
    steps = [0, 100, 200, 300]
    train, test = [0.1, 0.995, 1.0, 1.0], [0.1, 0.95, 0.98, 0.99]
    assert classify(steps, train, test) == PhaseResult("comprehension", 100, 100)  # 0.9 rule: both at 100
    assert classify(steps, train, test, rule) == PhaseResult("grokking", 100, 300)


def test_lengths_must_match():
    with pytest.raises(ValueError, match="one value per step"):
        classify([0, 1, 2], [0.1, 0.2], [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"accuracy": 0.0},
        {"accuracy": 1.5},
        {"accuracy": -0.1},
        {"accuracy": math.nan},
        {"accuracy": math.inf},
        {"window": -1},
    ],
)
def test_rule_is_validated(kwargs):
    with pytest.raises(ValueError, match="PhaseRule"):
        PhaseRule(**kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"accuracy": True}, {"accuracy": "0.9"}, {"window": 1.5}, {"window": True}, {"window": None}]
)
def test_rule_refuses_other_types(kwargs):
    # The test run type-checks signatures (a TypeCheckError, a TypeError, comes first); without it,
    # __post_init__'s checks refuse them with a ValueError.
    with pytest.raises((TypeError, ValueError)):
        PhaseRule(**kwargs)


def test_rule_and_result_are_frozen():
    rule = PhaseRule()
    assert (rule.accuracy, rule.window) == (0.9, 1000)
    assert PhaseRule(accuracy=1.0, window=0).accuracy == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.window = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        classify([0], [1.0], [1.0]).phase = "grokking"  # type: ignore[misc]
