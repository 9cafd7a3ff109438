"""Run configs as data: what a run is, before any tensor exists.

``modular.RunConfig`` describes a grokking run (``mod<p>`` tasks), ``lm.LMRunConfig`` a
character-level one; ``base`` holds what they share (JSON round-trip, what a resume may change).
:func:`make_config` builds either from a task and the options a user gives, with the defaults of
that kind of run: the one place the command line and ``gs.train`` get their defaults from.
Torch-free, so arguments are validated before the heavy imports.
"""

from dataclasses import fields
from pathlib import Path
from typing import Any

from grokscope.config.lm import LMRunConfig, LMTrainConfig, default_preset, default_train
from grokscope.config.modular import RunConfig, TrainConfig
from grokscope.tasks import (
    CHAR_OPTIONS,
    MODULAR_OPTIONS,
    WORD_OPS_OPTIONS,
    Task,
    is_text_task,
    make_task,
    refuse_options,
)

# Train options only the character-level trainer has (the modular one has its own warm-up of 10).
CHAR_TRAIN_OPTIONS = ("dropout", "warmup", "min_lr")
MODULAR_TRAIN_OPTIONS = ("stop_after_grok",)
TASK_OPTIONS = (*MODULAR_OPTIONS, *CHAR_OPTIONS, *WORD_OPS_OPTIONS)


def config_from_dict(d: dict[str, Any]) -> RunConfig | LMRunConfig:
    """The run config stored in ``run.json``: a language-model run or a modular one."""
    if not isinstance(d, dict):
        raise ValueError(f"a run config is a JSON object, not {type(d).__name__}")
    task = d.get("task")
    if isinstance(task, dict) and task.get("facts_file") is not None:  # never read: it may point anywhere
        raise ValueError("it names a facts file; a run keeps its facts in run.json itself (fact_pairs)")
    return LMRunConfig.from_dict(d) if d.get("trainer") == "lm" else RunConfig.from_dict(d)


def make_config(
    task: Task | str, *, preset: str | None = None, seed: int | None = None, **train: Any
) -> RunConfig | LMRunConfig:
    """The config of a new run of ``task`` (a task or a task name, see :func:`grokscope.tasks.make_task`).

    ``preset`` and ``seed`` default to the task kind's (``grok1l`` and 0 for ``mod<p>``; the
    paper's n14 or the blog's power2l and 1337 for character-level tasks). ``train`` are fields
    of the train config; every one given counts, ``None`` included (``stop_after_grok=None``
    trains all ``steps``). A character-level run scales its warm-up and decay to ``steps``.

    >>> config = make_config("mod97", steps=3000, stop_after_grok=None)
    >>> config.default_name, config.train.steps, config.train.lr
    ('mod97-grok1l-s0', 3000, 0.001)
    >>> make_config("mod97", dropout=0.1)
    Traceback (most recent call last):
    ...
    ValueError: --dropout applies to character-level tasks (arith, capitals, joint) only
    """
    if isinstance(task, str):
        task = make_task(task, seed=seed)
    if not is_text_task(task):
        refuse_options(train, CHAR_TRAIN_OPTIONS, "character-level tasks (arith, capitals, joint)")
        _check_fields(train, TrainConfig)
        seed = 0 if seed is None else seed
        return RunConfig(task=task, preset=preset or "grok1l", seed=seed, train=TrainConfig(**train))
    refuse_options(train, MODULAR_TRAIN_OPTIONS, "mod<p> tasks", f", not to character-level task {task.name}")
    _check_fields(train, LMTrainConfig)
    preset = preset or default_preset(task.name)
    full = default_train(task.name, preset, steps=train.get("steps")) | train
    if "lr" in train and "min_lr" not in train and full["min_lr"] > train["lr"]:
        full["min_lr"] = train["lr"] / 100
    return LMRunConfig(task=task, preset=preset, seed=1337 if seed is None else seed, train=LMTrainConfig(**full))


def config_from_options(
    task: str,
    *,
    preset: str | None = None,
    seed: int | None = None,
    init_from: "str | Path | None" = None,
    **options: Any,
) -> tuple[RunConfig | LMRunConfig, Any]:
    """The config of a new run from a task name and every option a user gives (the CLI's and ``gs.train``'s).

    ``options`` are the task's (:func:`grokscope.tasks.make_task`) and the train config's fields.
    ``init_from`` (character-level tasks): a TransformerLens model folder whose weights the run
    starts from; its architecture picks the preset when none is given. Returns the config and
    those initial weights (``None`` without ``init_from``).
    """
    task_options = {k: options.pop(k) for k in TASK_OPTIONS if k in options}
    t = make_task(task, seed=seed, **task_options)
    init_state = None
    if init_from is not None:
        if not is_text_task(t):
            raise ValueError("--init-from applies to character-level tasks (arith, capitals, joint, wordops) only")
        from grokscope.models.init_from import init_state as read_init

        preset, init_state = read_init(init_from, preset, t)
    return make_config(t, preset=preset, seed=seed, **options), init_state


def _check_fields(given: dict[str, Any], cls: type) -> None:
    unknown = sorted(set(given) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown train option {unknown[0]!r}: choose from {', '.join(f.name for f in fields(cls))}")


__all__ = [
    "LMRunConfig",
    "LMTrainConfig",
    "RunConfig",
    "TrainConfig",
    "config_from_dict",
    "config_from_options",
    "make_config",
]
