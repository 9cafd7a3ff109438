"""The one writer of a run folder while it trains: ``run.json``, ``metrics.jsonl`` and the checkpoints.

Both trainers (modular and character-level) go through it, so the bookkeeping of a run — when
``run.json`` is written and what it says, how a resume restores its checkpoint and trims the
metrics past it, where each row and checkpoint goes — exists once.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor

from grokscope.store.checkpoint import load_checkpoint, rewrite_metrics, save_checkpoint
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
        metrics rows before the starting step, which are all that stay in ``metrics.jsonl``.
        """
        extra: dict[str, Tensor] = {}
        rows: list[dict[str, Any]] = []
        if self.start is not None:
            self.manifest = json.loads((self.path / MANIFEST_FILE).read_text())
            extra = load_checkpoint(self.path, self.manifest, self.start, params, opt)
            rows = [r for r in read_metrics(self.path) if r["step"] < self.start_step]
        self._write_info(finished=False)
        rewrite_metrics(self.path, rows)
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


__all__ = ["RunWriter"]
