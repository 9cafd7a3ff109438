"""Phase boundaries from the progress measures, and the plain-words "handover" summary.

Nanda et al. drew their phase lines by eye (1.4k / 9.4k / 14k epochs for p = 113). Here they come
from the measures by a fixed rule, so two runs are comparable:

1. **Memorization** runs from the first checkpoint to ``m``: the checkpoint where the excluded loss
   (the model without its key-frequency part, on the training pairs) is lowest, searched from the
   first step with train accuracy >= 99% up to ``c``. Until then, the train loss falls with the
   memorizing solution; from ``m`` on the Fourier circuit grows at its expense and the excluded
   loss rises. Without key frequencies, ``m`` is the first step with train accuracy >= 99%.
2. **Circuit formation** runs from ``m`` to ``c``: the earlier of the first step with test
   accuracy >= 99% and the peak of the excluded loss after ``m`` (when it later falls by at least
   10%: the non-Fourier part of the logits has started to shrink, i.e. cleanup has begun).
3. **Cleanup** runs from ``c`` to ``e``: the first checkpoint after the steepest fall of the total
   sum of squared weights (measured from ``c``) where that fall has slowed to 20% of its steepest
   rate: the weights have settled. If the run stops before that, ``e`` is its last step and the
   phase is marked not reached.

Phases are contiguous and ordered: ``start <= end`` and each starts where the previous one ends.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

PHASE_NAMES = ("memorization", "circuit formation", "cleanup")


@dataclass(frozen=True)
class Phase:
    """One training phase: steps ``start`` to ``end``; ``reached`` is False when the run stopped inside it."""

    name: str
    start: int
    end: int
    reached: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "end": self.end, "reached": self.reached}


@dataclass(frozen=True)
class PhaseRule:
    """Thresholds of the phase rule (module docstring)."""

    acc: float = 0.99
    peak_fall: float = 0.10
    settle: float = 0.20


def _first(steps: np.ndarray, mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(steps[idx[0]]) if len(idx) else None


def detect_phases(
    measures: pd.DataFrame, *, has_key_frequencies: bool = True, rule: PhaseRule = PhaseRule()
) -> tuple[Phase, ...]:
    """Memorization, circuit formation and cleanup from a progress-measures table (index: step).

    Needs the columns ``train_acc``, ``test_acc``, ``excluded_loss`` and ``sq_weights``.
    """
    if len(measures) == 0:
        raise ValueError("no checkpoints: cannot place phases")
    steps = measures.index.to_numpy(dtype=np.int64)
    first, last = int(steps[0]), int(steps[-1])
    train_acc, test_acc = measures["train_acc"].to_numpy(), measures["test_acc"].to_numpy()
    excluded, sq = measures["excluded_loss"].to_numpy(), measures["sq_weights"].to_numpy()

    train99 = _first(steps, train_acc >= rule.acc)
    grok = _first(steps, test_acc >= rule.acc)

    # Circuit formation ends at grokking or at the excluded-loss peak, whichever is first.
    c = grok
    if has_key_frequencies and train99 is not None:
        after = steps >= train99
        i_peak = np.flatnonzero(after)[np.argmax(excluded[after])]
        if excluded[i_peak:].min() <= (1 - rule.peak_fall) * excluded[i_peak] and i_peak > np.flatnonzero(after)[0]:
            c = int(steps[i_peak]) if c is None else min(c, int(steps[i_peak]))

    # Memorization ends where the memorizing solution is at its best: the excluded-loss minimum.
    if train99 is None:
        m, m_reached = last, False
    elif not has_key_frequencies:
        m, m_reached = train99, True
    else:
        window = (steps >= train99) & (steps <= (c if c is not None else last))
        m, m_reached = int(steps[window][np.argmin(excluded[window])]), True

    if c is None or not m_reached:
        c, c_reached = last, False
    else:
        c_reached = True
    c = max(c, m)

    # Cleanup ends when the fall of the squared weights has slowed to `settle` of its steepest.
    e, e_reached = last, False
    if c_reached:
        idx = np.flatnonzero(steps >= c)
        if len(idx) >= 3:
            rate = -np.diff(sq[idx]) / np.diff(steps[idx])  # fall per step, between checkpoints
            i_max = int(np.argmax(rate))
            if rate[i_max] > 0:
                slow = np.flatnonzero(rate[i_max:] <= rule.settle * rate[i_max])
                if len(slow):
                    e, e_reached = int(steps[idx[i_max + slow[0]]]), True
    e = max(e, c)
    return (
        Phase(PHASE_NAMES[0], first, m, m_reached),
        Phase(PHASE_NAMES[1], m, c, c_reached),
        Phase(PHASE_NAMES[2], c, e, c_reached and e_reached),
    )


def _at(measures: pd.DataFrame, step: int, col: str) -> float:
    return float(measures.loc[step, col])


def _fmt(x: float) -> str:
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def first_step_below(measures: pd.DataFrame, col: str, value: float, *, after: int | None = None) -> int | None:
    """First step (at or after ``after``) where ``measures[col] <= value``."""
    s = measures[col]
    if after is not None:
        s = s[s.index >= after]
    hit = s[s <= value]
    return int(hit.index[0]) if len(hit) else None


def handover_summary(
    measures: pd.DataFrame, phases: tuple[Phase, ...], key_frequencies: list[int], *, p: int, n_train: int
) -> str:
    """One paragraph in plain words: how the model handed over from memorizing to the Fourier algorithm."""
    mem, circ, clean = phases
    first, last = int(measures.index[0]), int(measures.index[-1])
    ks = ", ".join(map(str, key_frequencies)) or "none"
    uniform = float(np.log(p))
    parts = [
        f"The model memorized its {n_train} training pairs first: by step {mem.end} train loss was "
        f"{_fmt(_at(measures, mem.end, 'train_loss'))} while test loss was {_fmt(_at(measures, mem.end, 'test_loss'))} "
        f"(uniform guessing is {uniform:.2f})."
    ]
    if not circ.reached:
        parts.append(
            f"It had not generalized by its last checkpoint (step {last}, test accuracy "
            f"{_at(measures, last, 'test_acc'):.1%}), so circuit formation is still under way"
            + (f"; the Fourier part of its logits uses frequencies {ks}." if key_frequencies else ".")
        )
        return " ".join(parts)
    r_drop = first_step_below(measures, "restricted_loss", 0.1, after=first)
    in_circ = (measures.index >= circ.start) & (measures.index <= circ.end)
    min_train = float(measures.loc[in_circ, "train_acc"].min())
    t_drop = first_step_below(measures, "test_loss", 0.1, after=first)
    parts.append(
        f"From step {circ.start} to {circ.end} it built the Fourier circuit on key frequencies {ks}: "
        f"the restricted loss (logits kept only along those frequencies) fell from "
        f"{_fmt(_at(measures, circ.start, 'restricted_loss'))} to {_fmt(_at(measures, circ.end, 'restricted_loss'))}"
        + (f", below 0.1 by step {r_drop}" if r_drop is not None else "")
        + (
            f", well before the test loss did (step {t_drop})"
            if r_drop is not None and t_drop is not None and t_drop > r_drop
            else ""
        )
        + f", while the excluded loss (the rest, on the training pairs) rose from "
        f"{_fmt(_at(measures, circ.start, 'excluded_loss'))} to {_fmt(_at(measures, circ.end, 'excluded_loss'))}: "
        f"the memorizing solution was being replaced"
        + (", with train accuracy at 99% or more throughout." if min_train >= 0.99 else ".")
    )
    grok = measures.index[measures["test_acc"].to_numpy() >= 0.99]
    # Measures exist at checkpoints only: the trainer's denser evaluations (metrics.jsonl, `grokscope
    # runs`) may see 99% up to a checkpoint interval earlier, so say "by".
    grok_txt = f"test accuracy was past 99% by the checkpoint at step {int(grok[0])} and " if len(grok) else ""
    if clean.end == clean.start:
        parts.append(
            f"The run stopped at step {last}, as cleanup began ({grok_txt.removesuffix(' and ')}); "
            "train longer to see the weights settle."
        )
        return " ".join(parts)
    sq0, sq1 = _at(measures, clean.start, "sq_weights"), _at(measures, clean.end, "sq_weights")
    parts.append(
        f"Cleanup followed from step {clean.start}"
        + (f" to {clean.end}" if clean.reached else f" and was still going at the last checkpoint (step {last})")
        + f": {grok_txt}weight decay removed the memorization, the sum of squared weights falling from "
        f"{sq0:.0f} to {sq1:.0f} (peak {measures['sq_weights'].max():.0f}) and the test loss to "
        f"{_fmt(_at(measures, clean.end, 'test_loss'))}."
    )
    return " ".join(parts)


__all__ = ["PHASE_NAMES", "Phase", "PhaseRule", "detect_phases", "first_step_below", "handover_summary"]
