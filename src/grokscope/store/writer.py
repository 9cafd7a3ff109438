"""The one writer of a run folder while it trains: ``run.json``, ``metrics.jsonl`` and the checkpoints.

Both trainers (modular and character-level) go through it, so the bookkeeping of a run — when
``run.json`` is written and what it says, how a resume restores its checkpoint and trims the
metrics past it, where each row and checkpoint goes — exists once.
"""

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from grokscope.store.checkpoint import load_checkpoint, save_checkpoint, truncate_metrics
from grokscope.store.files import write_json_atomic
from grokscope.store.run import MANIFEST_FILE, METRICS_FILE, RUN_FILE, read_metrics, read_run_info, run_info


class RunWriter:
    """Writes one run folder: start (or resume), a metrics row per evaluation, checkpoints, finish.

    ``start`` is the manifest's resume entry when continuing a run, else ``None``. ``info`` are
    extra ``run.json`` fields kept from start to finish (e.g. which forward trains the run).
    """

    def __init__(self, path: Path, config: Any, *, start: dict[str, Any] | None = None, **info: Any) -> None:
        self.path, self.config, self.start = Path(path), config, start
        previous = read_run_info(self.path) if start is not None else {}
        self.created = previous.get("created")
        # A resume keeps what run.json said (final step, grok step, ...) until it finishes anew.
        self.info = {k: v for k, v in previous.items() if k not in ("config", "created", "finished", "versions")} | info
        self.manifest: dict[str, Any] = {"checkpoints": [], "resume": None}
        self._metrics: IO[str] | None = None

    @property
    def start_step(self) -> int:
        return 0 if self.start is None else int(self.start["step"])

    def begin(self, params: Mapping[str, Tensor], opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list[dict]]:
        """Mark the run unfinished; on a resume, load the checkpoint into ``params`` and ``opt``.

        Returns the trainer's own saved state (sampler, RNG states; empty for a new run) and the
        metrics rows before the starting step. ``metrics.jsonl`` is only ever cut at the first row
        of the starting step (those rows are written again); the lines before it stay as they are.
        The caller holds the run's lock (:class:`RunLock`), so temporary files left by a killed
        writer are removed here.
        """
        extra: dict[str, Tensor] = {}
        _remove_stale_temporaries(self.path)
        if self.start is not None:  # everything is loaded before anything is rewritten
            self.manifest = json.loads((self.path / MANIFEST_FILE).read_text())
            extra = load_checkpoint(self.path, self.manifest, self.start, params, opt)
        self._write_info(finished=False)
        truncate_metrics(self.path, self.start_step)
        rows = read_metrics(self.path)
        self._metrics = open(self.path / METRICS_FILE, "a")
        return extra, rows

    def log(self, row: dict[str, Any]) -> None:
        """Append one evaluation's row to ``metrics.jsonl`` (flushed: a reader sees it at once)."""
        assert self._metrics is not None, "begin() first"
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()

    def checkpoint(self, step: int, params: Mapping[str, Tensor], opt: torch.optim.Optimizer,
                   extra: Mapping[str, Tensor]) -> None:
        """Save parameters and resume state at ``step`` (not the step a resume started from: it is on disk)."""
        if self.start is not None and step == self.start_step:
            return
        self.manifest = save_checkpoint(self.path, self.manifest, step, params, opt, extra)

    def finish(self, **info: Any) -> None:
        """Close the metrics file and mark the run finished in ``run.json`` with ``info``."""
        self.close()
        self.info |= info
        self._write_info(finished=True)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def _write_info(self, *, finished: bool) -> None:
        write_json_atomic(self.path / RUN_FILE, run_info(self.config, finished=finished, created=self.created,
                                                         **self.info))
        if self.created is None:
            self.created = read_run_info(self.path).get("created")


LOCK_FILE = ".lock"


class RunLock:
    """The one-writer lock of a run folder: ``fcntl.flock`` on ``<run>/.lock``, which names its holder.

    Taken before a trainer reads or writes anything of the run and held until :meth:`release`
    (the operating system drops it if the process dies). A second writer is refused at once
    with the holder's process id. Readers (analyses) never take it: every file they read is
    replaced atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:  # read-only folder, no permission, or .lock is a symlink (not followed)
            raise ValueError(f"cannot take the writer's lock {self.path / LOCK_FILE} ({e.strerror}): train in a "
                             "writable folder of your own (--out)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(f"{self.path} is being trained by another process (pid {holder}): wait for it to "
                             "finish or stop it, then run the command again") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _remove_stale_temporaries(path: Path) -> None:
    # write_bytes_atomic's temporaries are ".<name>.<random>.tmp" beside their target; one left
    # behind was being written when its writer died (the lock says no writer is running now).
    for folder in (path, path / "ckpt", path / "resume"):
        if folder.is_dir() and not folder.is_symlink():
            for tmp in folder.glob(".*.tmp"):
                if tmp.is_file() and not tmp.is_symlink():
                    tmp.unlink(missing_ok=True)


__all__ = ["LOCK_FILE", "RunLock", "RunWriter"]
