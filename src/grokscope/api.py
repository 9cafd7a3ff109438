"""Notebook entry points with keyword arguments instead of config objects."""

from pathlib import Path
from typing import Any

from grokscope.store.run import Run
from grokscope.tasks import get_task
from grokscope.config.modular import RunConfig, TrainConfig


def train(task: str = "mod97", *, preset: str = "grok1l", seed: int = 0, frac: float = 0.3, op: str | None = None,
          out: str | Path = "checkpoints", name: str | None = None, device: str = "auto", callbacks=(),
          **train_kwargs: Any) -> Run:
    """Train a run and return it, e.g. ``gs.train("mod97", steps=3000, stop_after_grok=None)``.

    ``train_kwargs`` are :class:`TrainConfig` fields (steps, lr, weight_decay, batch_size, ...).
    """
    from grokscope.training.modular import train as _train

    config = RunConfig(task=get_task(task, op=op, frac=frac, seed=seed), preset=preset, seed=seed,
                       train=TrainConfig(**train_kwargs))
    return _train(config, out, name=name, device=device, callbacks=callbacks)
