"""One run of a sweep as a backend carries it out: a picklable job in, an outcome out.

:func:`train_job` is all a worker does, whatever the backend (a local worker process, a Ray
task): it trains the run into the sweep folder with the same ``train`` as ``grokscope train``, so
a folder that already holds the run is continued from its last checkpoint. It never raises for
the run's own failures (a bad config, a loss gone NaN, an error in training): those come back as
a failed :class:`Outcome` with a one-line reason, and the sweep goes on.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunJob:
    """What a worker needs to train one run: its name and config (``to_dict()``), the sweep folder,
    the model folder it starts from (``--init-from``, if any), where and how wide."""

    name: str
    config: dict[str, Any]
    out: str
    init_from: str | None = None
    device: str = "cpu"
    threads: int = 1


@dataclass(frozen=True)
class Outcome:
    """How a job ended: ``ok``, or the one-line ``reason`` it failed."""

    name: str
    ok: bool
    reason: str | None = None
    wall_s: float = 0.0


class NonFiniteLoss(RuntimeError):
    """Raised from a training callback when the loss stops being a finite number."""


def _stop_on_nonfinite(row: dict[str, Any]) -> None:
    for key in ("train_loss", "test_loss", "val_loss"):
        value = row.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise NonFiniteLoss(f"{key.replace('_', ' ')} became {value} at step {row['step']}")


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch and in numba's kernels (one run per worker, side by side)."""
    import numba
    import torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]  # set at import


def train_job(job: RunJob) -> Outcome:
    """Train (or continue) ``job``'s run in ``job.out``; every failure of the run itself is an outcome."""
    t0 = time.perf_counter()
    try:
        from grokscope.config import config_from_dict
        from grokscope.runtime import speed_settings
        from grokscope.training.train import train

        folder = Path(job.out) / job.name
        if folder.is_symlink():  # checked again here: it may have been made since the sweep began
            raise ValueError(f"{folder} is a symbolic link, not followed: remove it")
        set_threads(job.threads)
        config, init_state = config_from_dict(job.config), None
        if job.init_from is not None:
            from grokscope.models.init_from import init_state as read_init

            _, init_state = read_init(job.init_from, config.preset, config.task)
        with speed_settings():
            train(
                config, job.out, name=job.name, device=job.device, callbacks=[_stop_on_nonfinite], init_state=init_state
            )
    except Exception as e:
        return Outcome(job.name, False, one_line(e), time.perf_counter() - t0)
    return Outcome(job.name, True, None, time.perf_counter() - t0)


def one_line(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, (ValueError, NonFiniteLoss)) and text:
        return text[:500]
    return f"{type(e).__name__}: {text}"[:500] if text else type(e).__name__


def build_config(options: dict[str, Any]) -> Any:
    """The run config of a sweep run's options, as ``grokscope train`` builds it (an ``--init-from``
    model is read to pick the preset, as there)."""
    from grokscope.config import config_from_options

    options = dict(options)
    task = options.pop("task")
    seed, preset, init_from = options.pop("seed", None), options.pop("preset", None), options.pop("init_from", None)
    if options.get("stop_after_grok") == -1:  # as on the command line: never stop early
        options["stop_after_grok"] = None
    return config_from_options(task, preset=preset, seed=seed, init_from=init_from, **options)[0]


__all__ = ["NonFiniteLoss", "Outcome", "RunJob", "build_config", "set_threads", "train_job"]
