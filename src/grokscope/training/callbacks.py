"""How a training run reports progress: one callback protocol for every trainer, and a progress bar.

At every evaluation a trainer calls each callback with that evaluation's metrics row (the row
written to ``metrics.jsonl``) plus:

- ``"total"``: the step the run is now expected to end at: ``steps``, or for a grokking run that
  has grokked, the step ``stop_after_grok`` steps later when that comes first;
- ``"end_known"`` (modular runs): False while the run may still end before ``"total"`` (it stops
  ``stop_after_grok`` steps after grokking and has not grokked yet), True once ``"total"`` is its end;
- ``"grok_step"`` (modular runs): the first step with test accuracy at the grok threshold, or None;
- ``"best_score"`` (character-level runs with a task score): the best score so far.

The library itself never prints: :class:`ProgressBar` is a callback the caller passes (the
command line does; ``gs.train`` does unless ``progress=False``).
"""

from collections.abc import Callable
from typing import Any

Callback = Callable[[dict[str, Any]], None]


# While the run may stop early, the total and the time left are upper bounds: the bar says so.
UPPER_BOUND_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} max [{elapsed}<{remaining} max, {rate_fmt}{postfix}]"


class ProgressBar:
    """A tqdm bar over training steps (a notebook widget in Jupyter, text in a terminal).

    While a grokking run may still stop early (``stop_after_grok`` steps after grokking), its
    total and time left are marked "max"; once it groks, the total becomes the step it stops at,
    so the bar ends at 100% at the run's last step. :meth:`close` ends a bar that training left
    unfinished (an error, an interrupt).
    """

    def __init__(self, *, desc: str | None = None) -> None:
        self.desc = desc
        self._bar: Any = None

    def __call__(self, row: dict[str, Any]) -> None:
        bar_format = None if row.get("end_known", True) else UPPER_BOUND_FORMAT
        if self._bar is None:  # created on the first row, so an early error prints no empty bar
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=row["total"],
                initial=row["step"],
                unit="step",
                desc=self.desc,
                dynamic_ncols=True,
                mininterval=0.5,
                bar_format=bar_format,
            )
        bar = self._bar
        if bar.total != row["total"]:  # the run grokked: it now ends stop_after_grok steps later
            bar.total = row["total"]
            widget = getattr(bar, "container", None)  # tqdm.notebook's widget keeps a maximum of its own
            if widget is not None:
                widget.children[1].max = row["total"]
        bar.bar_format = bar_format
        bar.set_postfix_str(_postfix(row), refresh=False)
        bar.update(row["step"] - bar.n)
        if row["step"] >= row["total"]:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _postfix(row: dict[str, Any]) -> str:
    if "test_acc" in row:
        return f"loss {row['train_loss']:.2e}/{row['test_loss']:.2e} acc {row['train_acc']:.3f}/{row['test_acc']:.3f}"
    score = "" if row.get("score") is None else f" score {row['score']:.3f} (best {row['best_score']:.3f})"
    return f"loss {row['train_loss']:.3f}/{row['val_loss']:.3f}{score}"


__all__ = ["Callback", "ProgressBar"]
