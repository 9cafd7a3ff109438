"""The one writer of a run folder while it trains: ``run.json``, ``metrics.jsonl`` and the checkpoints.

Both trainers (modular and character-level) go through it, so the bookkeeping of a run — when
``run.json`` is written and what it says, how a resume restores its checkpoint and trims the
metrics past it, where each row and checkpoint goes — exists once.
"""

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from grokscope.store.checkpoint import load_checkpoint, save_checkpoint, truncate_metrics
from grokscope.store.files import CorruptCheckpointError
from grokscope.store.folder import RunFolder
from grokscope.store.lock import LOCK_FILE, RunLock, lock_holder
from grokscope.store.records import (
    CKPT_DIR,
    METRICS_FILE,
    RESUME_DIR,
    RUN_FILE,
    FileEntry,
    Manifest,
    read_info,
    read_manifest,
)
from grokscope.store.run import read_metrics_file, run_info


class RunWriter:
    """Writes one run folder: start (or resume), a metrics row per evaluation, checkpoints, finish.

    ``resume=True`` continues the run from its newest resumable checkpoint. ``info`` are extra
    ``run.json`` fields kept from start to finish (e.g. which forward trains the run).
    """

    def __init__(self, path: Path, config: Any, *, resume: bool = False, **info: Any) -> None:
        self.path, self.config, self.resume = Path(path), config, resume
        self.folder = RunFolder(self.path)
        previous = read_info(self.folder) if resume else None
        self.created = previous.created if previous else None
        # A resume keeps what run.json said (final step, grok step, ...) until it finishes anew.
        self.info = (dict(previous.extra) if previous else {}) | info
        self.manifest = Manifest()
        self.start: FileEntry | None = None
        self._metrics: IO[bytes] | None = None
        self._metrics_cm: Any = None

    @property
    def start_step(self) -> int:
        return 0 if self.start is None else self.start.step

    def begin(
        self,
        params: Mapping[str, Tensor],
        opt: torch.optim.Optimizer,
        restore: Callable[[dict[str, Tensor]], None] | None = None,
    ) -> tuple[dict[str, Tensor], list[dict]]:
        """Mark the run unfinished; on a resume, load the checkpoint into ``params`` and ``opt``.

        Returns the trainer's own saved state (sampler, RNG states; empty for a new run) and the
        metrics rows before the starting step. A resume loads the newest checkpoint whose files
        are whole, falling back to the one before (with a warning) when the newest is damaged;
        nothing is written until it has loaded. ``metrics.jsonl`` is only ever cut at the first row
        of the starting step (those rows are written again); the lines before it stay as they are.
        The caller holds the run's lock (:class:`RunLock`), so temporary files left by a killed
        writer are removed here.
        """
        extra: dict[str, Tensor] = {}
        if self.resume:  # everything is loaded before anything is rewritten
            self.manifest = read_manifest(self.folder)
            extra = self._load_newest_good(params, opt, restore)
        read_metrics_file(self.path)  # a metrics.jsonl that cannot be read is refused before any write
        _remove_stale_temporaries(self.folder)
        self._write_info(finished=False)
        truncate_metrics(self.folder, self.start_step)
        metrics = read_metrics_file(self.path)
        rows = metrics.rows
        if metrics.bad_lines:
            shown = ", ".join(map(str, metrics.bad_lines[:5])) + (", ..." if len(metrics.bad_lines) > 5 else "")
            warnings.warn(
                f"{self.folder.path(METRICS_FILE)}: line(s) {shown} are not metrics rows; kept as they are",
                RuntimeWarning,
                stacklevel=3,
            )
        self._metrics_cm = self.folder.appending(METRICS_FILE)
        self._metrics = self._metrics_cm.__enter__()
        return extra, rows

    def _load_newest_good(
        self,
        params: Mapping[str, Tensor],
        opt: torch.optim.Optimizer,
        restore: Callable[[dict[str, Tensor]], None] | None,
    ) -> dict[str, Tensor]:
        failures: list[str] = []
        for entry in reversed(self.manifest.resume):
            try:
                extra = load_checkpoint(self.folder, self.manifest, entry, params, opt)
                if restore is not None:
                    try:
                        restore(extra)
                    except (KeyError, TypeError, ValueError, RuntimeError) as e:
                        raise CorruptCheckpointError(
                            f"{self.folder.path(RESUME_DIR, entry.file)}: its sampler or "
                            f"RNG state cannot be restored ({str(e).splitlines()[0]})"
                        ) from None
            except CorruptCheckpointError as e:
                failures.append(f"step {entry.step}: {e}")
                continue
            if failures:
                warnings.warn(
                    f"the newest checkpoint of {self.path} is damaged ({failures[0]}); resuming from "
                    f"step {entry.step}, the newest whole one",
                    RuntimeWarning,
                    stacklevel=3,
                )
                # Later checkpoints are dropped from the manifest when the next one is written.
                self.manifest = Manifest(
                    self.manifest.checkpoints, tuple(r for r in self.manifest.resume if r.step <= entry.step)
                )
            self.start = entry
            return extra
        if not failures:
            raise CorruptCheckpointError(
                f"{self.path} has no resumable checkpoint yet: start it again with grokscope train"
            )
        raise CorruptCheckpointError(
            f"no checkpoint of {self.path} can be resumed ({'; '.join(failures)}): "
            "restore the files from a backup, or start again with --name"
        )

    def log(self, row: dict[str, Any]) -> None:
        """Append one evaluation's row to ``metrics.jsonl`` (flushed: a reader sees it at once)."""
        assert self._metrics is not None, "begin() first"
        with self.folder.writing(METRICS_FILE):
            self._metrics.write((json.dumps(row) + "\n").encode())
            self._metrics.flush()

    def checkpoint(
        self, step: int, params: Mapping[str, Tensor], opt: torch.optim.Optimizer, extra: Mapping[str, Tensor]
    ) -> None:
        """Save parameters and resume state at ``step`` (not the step a resume started from: it is on disk)."""
        if self.start is not None and step == self.start_step:
            return
        self.manifest = save_checkpoint(self.folder, self.manifest, step, params, opt, extra)

    def finish(self, **info: Any) -> None:
        """Close the metrics file and mark the run finished in ``run.json`` with ``info``."""
        self.close()
        self.info |= info
        self._write_info(finished=True)

    def close(self) -> None:
        if self._metrics_cm is not None:
            cm, self._metrics_cm, self._metrics = self._metrics_cm, None, None
            cm.__exit__(None, None, None)

    def _write_info(self, *, finished: bool) -> None:
        record = run_info(self.config, finished=finished, created=self.created, **self.info)
        self.folder.write_json(RUN_FILE, obj=record.to_json())
        self.created = record.created


def _remove_stale_temporaries(folder: RunFolder) -> None:
    # RunFolder's temporaries are ".<name>.<random>.tmp" beside their target; one left behind was
    # being written when its writer died (the lock says no writer is running now).
    for sub in ((), (CKPT_DIR,), (RESUME_DIR,)):
        if sub and not folder.is_dir(*sub):
            continue
        for name in folder.names(*sub):
            if name.startswith(".") and name.endswith(".tmp") and folder.is_file(*sub, name):
                folder.unlink(*sub, name)


__all__ = ["LOCK_FILE", "RunLock", "RunWriter", "lock_holder"]
