"""Phase boundaries on synthetic curves whose phases are known, and the handover paragraph."""

import numpy as np
import pandas as pd
import pytest

from grokscope.analysis.fourier.phases import detect_phases, handover_summary

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def synthetic(m=1000, c=8000, e=11000, last=14000, every=100) -> pd.DataFrame:
    """Curves shaped like the paper's: memorize by ``m``, circuit until ``c``, cleanup until ``e``."""
    steps = np.arange(0, last + 1, every)
    s = steps.astype(float)
    train_acc = np.clip(s / (0.4 * m), 0, 1)
    test_acc = np.where(s < c, 0.05 + 0.4 * s / c, np.clip(0.45 + (s - c) / 800, 0, 1))
    # Excluded loss: falls with memorization, lowest at m, rises to a peak at c, then settles lower.
    log_ex = np.where(
        s <= m,
        np.log(4.5) - (np.log(4.5) - np.log(0.04)) * s / m,
        np.where(
            s <= c,
            np.log(0.04) + (np.log(25) - np.log(0.04)) * (s - m) / (c - m),
            np.log(25) - 1.0 * np.clip((s - c) / (e - c), 0, 1),
        ),
    )
    # Squared weights: up in memorization, slow fall in circuit formation, then a fast fall that
    # decays with time constant (e - c) / 4 in cleanup: flat (to 1%) well before e.
    sq_c = 3000 - 0.1 * (c - m)
    sq = np.where(
        s <= m,
        1100 + 1900 * s / m,
        np.where(s <= c, 3000 - 0.1 * (s - m), sq_c - 1500 * (1 - np.exp(-(s - c) / ((e - c) / 4)))),
    )
    return pd.DataFrame(
        {
            "train_acc": train_acc,
            "test_acc": test_acc,
            "excluded_loss": np.exp(log_ex),
            "sq_weights": sq,
            "train_loss": np.exp(-s / 300) + 1e-7,
            "test_loss": 20 * (1 - test_acc) + 1e-7,
            "restricted_loss": np.exp(-s / 2000),
        },
        index=pd.Index(steps, name="step"),
    )


def test_phases_of_paper_shaped_curves():
    mem, circ, clean = detect_phases(synthetic())
    assert (mem.name, circ.name, clean.name) == ("memorization", "circuit formation", "cleanup")
    assert mem.end == 1000 and circ.start == 1000
    assert circ.end == 8000 and clean.start == 8000  # the excluded-loss peak, before test acc hits 99%
    assert 8000 < clean.end <= 11000 and clean.reached
    assert mem.start < mem.end < circ.end < clean.end


@pytest.mark.parametrize("m,c,e", [(500, 4000, 6000), (1500, 9400, 14000), (200, 700, 1500)])
def test_boundaries_follow_the_curves(m, c, e):
    mem, circ, clean = detect_phases(synthetic(m=m, c=c, e=e, last=e + 3000, every=50))
    assert mem.end == m and circ.end == c
    assert c < clean.end <= e


def test_grokking_before_the_excluded_peak_ends_circuit_formation():
    df = synthetic()
    df.loc[df.index >= 6000, "test_acc"] = 1.0  # generalizes at 6000, before the 8000 peak
    _, circ, clean = detect_phases(df)
    assert circ.end == 6000 == clean.start


def test_run_that_never_groks_stays_in_circuit_formation():
    df = synthetic()
    df["test_acc"] = 0.1
    df["excluded_loss"] = np.linspace(4, 0.05, len(df))  # no peak either
    mem, circ, clean = detect_phases(df)
    assert not circ.reached and not clean.reached
    assert circ.end == clean.start == clean.end == 14000
    text = handover_summary(df, (mem, circ, clean), [], p=97, n_train=2822)
    assert "had not generalized" in text and "14000" in text


def test_run_that_stops_at_grokking_has_an_open_cleanup():
    df = synthetic(last=8000)
    df.loc[8000, "test_acc"] = 1.0
    _, circ, clean = detect_phases(df)
    assert circ.end == 8000 and clean.start == clean.end == 8000 and not clean.reached


def test_phases_without_key_frequencies_fall_back_to_train_accuracy():
    mem, circ, _ = detect_phases(synthetic(), has_key_frequencies=False)
    assert mem.end == 400  # train accuracy reaches 99% at 0.4 m
    assert circ.end > mem.end


def test_handover_names_the_steps_and_frequencies():
    df = synthetic()
    phases = detect_phases(df)
    text = handover_summary(df, phases, [14, 35, 41], p=113, n_train=3830)
    for needle in [
        "3830 training pairs",
        "step 1000",
        "1000 to 8000",
        "14, 35, 41",
        "Cleanup followed from step 8000",
        "restricted loss",
        "excluded loss",
        "squared weights",
        # test_acc = 0.45 + (s - 8000) / 800 reaches 0.99 at 8432: the next checkpoint is 8500
        "past 99% by the checkpoint at step 8500",
    ]:
        assert needle in text, needle
    assert "\n" not in text
