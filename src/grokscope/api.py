"""Notebook entry points: keyword arguments instead of config objects.

>>> import grokscope as gs
>>> run = gs.train("mod97", steps=3000, stop_after_grok=None)   # doctest: +SKIP
>>> run = gs.train("arith", steps=2000)                          # doctest: +SKIP
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grokscope.config import LMRunConfig, RunConfig, config_from_options
from grokscope.store.run import Run
from grokscope.training.callbacks import Callback, ProgressBar


def train(task: "str | RunConfig | LMRunConfig" = "mod97", *, out: str | Path = "checkpoints",
          name: str | None = None, device: str = "auto", preset: str | None = None, seed: int | None = None, init_from: str | Path | None = None,
          callbacks: Sequence[Callback] = (), progress: bool = True, **options: Any) -> Run:
    """Train a run of any task and return it (a folder that already holds this run is continued).

    ``task`` is a task name, or a whole run config (then no other option is taken from here).
    ``options`` are the task's (``op``, ``frac`` for ``mod<p>``; ``block_size``, ``facts_file``;
    ``ops``, ``operands``, ``decimals``, ``n_train``, ``n_test`` for ``wordops``) and the train
    config's fields (``steps``, ``lr``, ``weight_decay``, ``stop_after_grok``, ``warmup``, ...).
    Defaults are the task kind's, as on the command line. ``init_from`` (character-level tasks):
    a TransformerLens model folder to start from. ``progress`` shows a bar (a widget in Jupyter).
    """
    from grokscope.training.train import train as train_config

    bars = [ProgressBar()] if progress else []
    if not isinstance(task, str):
        if options or preset is not None or seed is not None or init_from is not None:
            raise ValueError("train(config) takes the config as it is: set options in the config instead")
        return train_config(task, out, name=name, device=device, callbacks=[*callbacks, *bars])
    config, init_state = config_from_options(task, preset=preset, seed=seed, init_from=init_from, **options)
    return train_config(config, out, name=name, device=device, callbacks=[*callbacks, *bars], init_state=init_state)


def resume(run: str | Path | Run, *, steps: int | None = None, device: str = "auto",
           callbacks: Sequence[Callback] = (), progress: bool = True, **kwargs: Any) -> Run:
    """Continue a run from its newest checkpoint; ``steps`` (and ``stop_after_grok``) may move its end."""
    from grokscope.training.train import resume as resume_run

    path = run.path if isinstance(run, Run) else Path(run)
    bars = [ProgressBar()] if progress else []
    return resume_run(path, steps=steps, device=device, callbacks=[*callbacks, *bars], **kwargs)


__all__ = ["resume", "train"]
