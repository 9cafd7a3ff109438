"""How a training run reports progress: one callback protocol for every trainer, and a progress bar.

At every evaluation a trainer calls each callback with that evaluation's metrics row (the row
written to ``metrics.jsonl``) plus:

- ``"total"``: the step the run is now expected to end at: ``steps``, or for a grokking run that
  has grokked, the step ``stop_after_grok`` steps later when that comes first;
- ``"grok_step"`` (modular runs): the first step with test accuracy at the grok threshold, or None;
- ``"best_score"`` (character-level runs with a task score): the best score so far.

The library itself never prints: :class:`ProgressBar` is a callback the caller passes (the
command line does; ``gs.train`` does unless ``progress=False``).
"""

from collections.abc import Callable
from typing import Any

Callback = Callable[[dict[str, Any]], None]


class ProgressBar:
    """A tqdm bar over training steps (a notebook widget in Jupyter, text in a terminal)."""

    def __init__(self, *, desc: str | None = None) -> None:
        self.desc = desc
        self._bar: Any = None

    def __call__(self, row: dict[str, Any]) -> None:
        if self._bar is None:  # created on the first row, so an early error prints no empty bar
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=row["total"],
                initial=row["step"],
                unit="step",
                desc=self.desc,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        bar = self._bar
        if bar.total != row["total"]:  # the run grokked: it now ends stop_after_grok steps later
            bar.total = row["total"]
        bar.update(row["step"] - bar.n)
        bar.set_postfix_str(_postfix(row), refresh=False)
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
