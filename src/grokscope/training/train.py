"""The one entry point of training: ``train(config)`` for any task, and ``resume(run folder)``.

Whatever the task, a run goes the same way: the device and the folder are checked before
anything is written, a folder that already holds this very run is continued rather than started
again (a different config there is refused), and a resume may move only where the run stops.
The step loops live beside this file, one per kind of run: ``modular.py`` (the grokking tasks)
and ``lm.py`` (the character-level tasks). Both report each evaluation to ``callbacks``
(``callbacks.py``) and write the folder through one :class:`~grokscope.store.writer.RunWriter`.
"""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from grokscope.config.lm import LMRunConfig
from grokscope.config.modular import RunConfig
from grokscope.store.folder import RunFolder, check_name, check_name_lengths
from grokscope.store.records import CKPT_DIR, MANIFEST_FILE, checkpoint_name
from grokscope.store.run import NotARunError, Run, is_run_dir
from grokscope.store.writer import LOCK_FILE, RunLock, RunWriter
from grokscope.training.callbacks import Callback

KEEP = "keep"  # resume(): leave stop_after_grok as the run has it


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``; an unusable device is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA GPU: use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def prepare_run_dir(config: RunConfig | LMRunConfig, out: str | Path, name: str | None = None) -> tuple[Path, bool]:
    """The run folder for ``config`` and whether it already holds this run (then it is resumed).

    A folder holding a run with a different config is never touched.
    """
    path = Path(out) / check_name(name or config.default_name, "run name")
    check_name_lengths(out)  # refused up front, not after the folders above it were made
    if is_run_dir(path):
        diff = Run(path).config.conflicts(config)
        if diff:
            raise ValueError(
                f"{path} holds a run with another config ({diff[0]}): pass --name for a new run "
                f"or --resume {path} to continue that one"
            )
        return path, True
    if path.exists() and not _unstarted(path):
        raise ValueError(f"{path} exists and is not a grokscope run: choose another --out or --name")
    folder = RunFolder(path)
    try:
        folder.make_dirs()
        folder.write_bytes(".write-test", data=b"")
        folder.unlink(".write-test")
    except OSError as e:  # the filesystem's refusals the user can fix are RunFolderWriteError already
        raise ValueError(f"cannot write to {path} ({e.strerror}): choose a writable --out") from None
    return path, False


def _unstarted(path: Path) -> bool:
    """An empty folder, or one a trainer killed before its first ``run.json`` left: only the lock,
    the write probe and temporary files."""
    if not path.is_dir():
        return False
    return all(
        p.name in (LOCK_FILE, ".write-test") or (p.name.startswith(".") and p.name.endswith(".tmp"))
        for p in path.iterdir()
    )


def _committed(path: Path) -> bool:
    """Whether the run has a committed checkpoint to continue from. Without a manifest only a first
    checkpoint being written when the trainer died may be there (it is written again); more
    checkpoint files without a manifest are a damaged run, refused rather than overwritten."""
    folder = RunFolder(path)
    if not folder.is_file(MANIFEST_FILE) and not folder.path(MANIFEST_FILE).is_symlink():
        if set(folder.names(CKPT_DIR)) - {checkpoint_name(0)}:
            Run(path).manifest()  # raises: the manifest is missing while checkpoints are there
        return False
    return bool(Run(path).manifest().resume)


def train(
    config: RunConfig | LMRunConfig,
    out: str | Path = "checkpoints",
    *,
    name: str | None = None,
    device: str = "auto",
    callbacks: Sequence[Callback] = (),
    init_state: Mapping[str, Any] | None = None,
) -> Run:
    """Train ``config`` into ``out/name`` (default name from the config) and return the :class:`Run`.

    ``config`` is a :class:`~grokscope.config.modular.RunConfig` (the grokking tasks) or a
    :class:`~grokscope.config.lm.LMRunConfig` (the character-level ones). If the folder already
    holds this very run, it is resumed instead. ``init_state`` (parameters by TransformerLens
    name; character-level runs only) replaces the initial weights.
    """
    device = resolve_device(device)
    if init_state is not None and not isinstance(config, LMRunConfig):
        raise ValueError("init_state applies to character-level runs only")
    path, exists = prepare_run_dir(config, out, name)
    with RunLock(path):
        if exists and _committed(path):
            return _resume(
                path,
                steps=config.train.steps,
                device=device,
                callbacks=callbacks,
                expect=None,
                stop_after_grok=getattr(config.train, "stop_after_grok", KEEP),
            )
        if exists:  # killed before its first checkpoint: nothing was committed, so nothing is lost
            warnings.warn(
                f"{path} holds this run but no checkpoint of it yet: starting it afresh", RuntimeWarning, stacklevel=2
            )
        return _run(config, RunWriter(path, config), device, callbacks, init_state=init_state)


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    stop_after_grok: int | str | None = KEEP,
    device: str = "auto",
    callbacks: Sequence[Callback] = (),
    expect: Mapping[str, Any] | None = None,
) -> Run:
    """Continue a run from its newest checkpoint; ``steps`` (and ``stop_after_grok``) may move its end.

    ``expect`` holds settings the caller asked for, as dotted config keys (``"seed"``,
    ``"train.lr"``, ``"task.p"``): any that differ from the run's are an error, checked before
    anything is written. Endpoint fields (``steps``, ``stop_after_grok``) may always differ.
    """
    device = resolve_device(device)
    run = Run(run_dir)
    _check_expected(run, expect)  # before the lock: a refused resume writes nothing, not even the lock file
    with RunLock(run.path):
        return _resume(
            run_dir, steps=steps, stop_after_grok=stop_after_grok, device=device, callbacks=callbacks, expect=expect
        )


def _resume(
    run_dir: str | Path,
    *,
    steps: int | None,
    stop_after_grok: int | str | None,
    device: str,
    callbacks: Sequence[Callback],
    expect: Mapping[str, Any] | None,
) -> Run:
    run = Run(run_dir)  # read again under the lock
    _check_expected(run, expect)
    config = run.config
    changes: dict[str, Any] = {} if steps is None else {"steps": steps}
    if stop_after_grok != KEEP:
        if not isinstance(config, RunConfig):
            raise ValueError("--stop-after-grok applies to mod<p> tasks only")
        changes["stop_after_grok"] = stop_after_grok
    if changes:
        # mypy cannot pair a union of configs with their own train configs (it asks for both at once)
        config = replace(config, train=replace(config.train, **changes))  # type: ignore[arg-type]
    if not run.manifest().resume:
        raise NotARunError(f"{run.path} has no resumable checkpoint yet: start it again with grokscope train")
    return _run(config, RunWriter(run.path, config, resume=True), device, callbacks)


def _check_expected(run: Run, expect: Mapping[str, Any] | None) -> None:
    wrong = run.config.mismatches(dict(expect or {}))
    if wrong:
        raise ValueError(f"--resume {run.path}: {wrong[0]}; drop the flag or start a new run with --name")


def _run(
    config: RunConfig | LMRunConfig,
    writer: RunWriter,
    device: str,
    callbacks: Sequence[Callback],
    init_state: Mapping[str, Any] | None = None,
) -> Run:
    try:
        if isinstance(config, LMRunConfig):
            from grokscope.training.lm import train_steps as lm_steps

            lm_steps(config, writer, device, callbacks, init_state=init_state)
        else:
            from grokscope.training.modular import train_steps as modular_steps

            modular_steps(config, writer, device, callbacks)
    finally:
        writer.close()
    return Run(writer.path)


__all__ = ["KEEP", "prepare_run_dir", "resolve_device", "resume", "train"]
