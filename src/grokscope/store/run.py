"""A run folder and its notebook-facing handle, :class:`Run`.

Layout of ``<out>/<name>/``::

    run.json          config, seed, versions (written once, atomically)
    manifest.json     every checkpoint with its size and SHA-256, and the resume state; written last
    metrics.jsonl     one JSON object per evaluation (step, train/test loss and accuracy, ...)
    ckpt/step_XXXXXXX.safetensors     HookedTransformer parameters at that step
    resume/state_XXXXXXX.safetensors  optimizer (and sampler) state of the newest checkpoint
"""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from grokscope.config import RunConfig, config_from_dict
from grokscope.store.folder import RunFolder
from grokscope.store.records import (  # the file names are re-exported: the run's layout, for its readers
    CKPT_DIR,
    METRICS_FILE,
    RUN_FILE,
    CorruptCheckpointError,
    FileEntry,
    Manifest,
    RunInfo,
    damaged,
    read_info,
    read_manifest,
)

if TYPE_CHECKING:
    import pandas as pd
    from torch import Tensor
    from transformer_lens import HookedTransformer


class NotARunError(ValueError):
    """A folder that holds no grokscope run."""


def run_info(config: Any, *, finished: bool, created: str | None = None, **extra: Any) -> RunInfo:
    """What a trainer writes to ``run.json``: its config (a ``to_dict()``), the creation time (kept
    across resumes through ``created``), whether it finished, the software versions and ``extra``."""
    return RunInfo(
        config.to_dict(), finished, created or time.strftime("%Y-%m-%dT%H:%M:%S%z"), _software_versions(), dict(extra)
    )


def _software_versions() -> dict[str, str]:
    # TransformerLens's version comes from the package metadata: importing it to read a
    # ``__version__`` (which 3.x does not even define) would cost seconds of start-up.
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from grokscope.version import __version__

    try:
        tl_version = version("transformer-lens")
    except PackageNotFoundError:  # an odd install without metadata; the version is informative only
        tl_version = "unknown"
    return {
        "grokscope": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "transformer_lens": tl_version,
    }


def is_run_dir(path: str | Path) -> bool:
    """A folder with a ``run.json`` (a file, or a link that :class:`Run` then refuses to follow)."""
    info = Path(path) / RUN_FILE
    return info.is_symlink() or info.is_file()


class MetricsFile(NamedTuple):
    """``metrics.jsonl`` as read: the rows, and the lines that are not rows (1-based line numbers)."""

    rows: list[dict[str, Any]]
    bad_lines: list[int]


def read_metrics_file(path: Path) -> MetricsFile:
    """Every row of ``metrics.jsonl``. A line that is not a JSON object with an integer ``step`` (a
    torn last line after a kill, or a damaged one) is skipped and reported by number, never
    silently ends the reading."""
    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    try:
        data = RunFolder(path).read_bytes(METRICS_FILE)
    except FileNotFoundError:
        return MetricsFile(rows, bad)
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        row = metrics_row(line)
        if row is None:
            bad.append(number)
        else:
            rows.append(row)
    return MetricsFile(rows, bad)


def metrics_row(line: bytes) -> dict[str, Any] | None:
    """One line of ``metrics.jsonl`` as a row, or None when it is not one (a JSON object with an integer
    ``step`` and numbers, or nulls, for values)."""
    try:
        row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    ok = (
        isinstance(row, dict)
        and isinstance(row.get("step"), int)
        and not isinstance(row["step"], bool)
        and row["step"] >= 0
        and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in row.values())
    )
    return row if ok else None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl`` (see :func:`read_metrics_file` for the lines that are not rows)."""
    return read_metrics_file(path).rows


@dataclass(frozen=True)
class CheckpointStack:
    """One tensor per parameter with a leading checkpoint axis: ``params[name][i]`` is at ``steps[i]``.

    ``skipped`` lists checkpoints that could not be read, with the reason.
    """

    steps: list[int]
    params: dict[str, "Tensor"]
    skipped: list[tuple[int, str]]


class Run:
    """A training run on disk: config, metrics, and the model at any checkpointed step.

    >>> run = load_run("checkpoints/mod97-grok1l-s0")  # doctest: +SKIP
    >>> run.steps[:5], run.model(run.steps[-1])          # doctest: +SKIP
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.folder = RunFolder(self.path)
        if not is_run_dir(self.path):
            raise NotARunError(f"{self.path} is not a grokscope run (no {RUN_FILE})")
        record = read_info(self.folder)
        try:  # a modular (grokking) run or a character-level language-model run
            self.config = config_from_dict(record.config)
        except (KeyError, TypeError, ValueError) as e:
            problem = f"no {e.args[0]!r} in its config" if isinstance(e, KeyError) else str(e).split(":")[0]
            raise damaged(self.path / RUN_FILE, f"its config is not valid: {problem}") from None
        self.record = record
        self.info: dict[str, Any] = record.to_json()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def task(self):
        return self.config.task

    def manifest(self) -> Manifest:
        """``manifest.json``, validated: every committed checkpoint and the resume states."""
        return read_manifest(self.folder)

    @property
    def steps(self) -> list[int]:
        """Checkpointed steps, ascending."""
        return self.manifest().steps

    def _entry(self, step: int, manifest: Manifest | None = None) -> FileEntry:
        entries = {e.step: e for e in (manifest or self.manifest()).checkpoints}
        if step not in entries:
            have = sorted(entries)
            shown = ", ".join(map(str, have[:8])) + (f", ... {have[-1]}" if len(have) > 8 else "")
            raise KeyError(f"no checkpoint at step {step} in {self.path}; steps present: {shown or 'none'}")
        return entries[step]

    def state_dict(self, step: int | None = None, *, device: str = "cpu") -> dict[str, "Tensor"]:
        """Parameters at ``step`` (default: the last checkpoint), by TransformerLens name."""
        if step is None:
            if not self.steps:
                raise NotARunError(f"{self.path} has no checkpoint yet")
            step = self.steps[-1]
        return self._load(self._entry(step), self._shapes(), device=device)

    def _load(self, entry: FileEntry, want: dict[str, tuple[int, ...]], *, device: str = "cpu") -> dict[str, "Tensor"]:
        from grokscope.store.files import load_tensors

        state = load_tensors(self.folder, (CKPT_DIR, entry.file), entry, device=device)
        self._check_shapes(state, want, entry.file)
        return state

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape, by name, as the run's config makes the model."""
        model = getattr(self.config, "model", None)
        if model is not None:
            return model.param_shapes()
        from grokscope.models.state import state_shapes

        return state_shapes(self.config.preset, self.task)

    def _check_shapes(self, state: dict[str, "Tensor"], want: dict[str, tuple[int, ...]], file: str) -> None:
        """A checkpoint must hold exactly the run's parameters with their shapes (its hash only says the
        file is the one the manifest lists, and a manifest can be edited)."""
        wrong = sorted(set(want) ^ set(state)) or [k for k in want if tuple(state[k].shape) != tuple(want[k])]
        if wrong:
            k = wrong[0]
            why = (
                f"{k} has shape {tuple(state[k].shape)}, the model {tuple(want[k])}"
                if k in want and k in state
                else f"{'no' if k in want else 'an unexpected'} {k}"
            )
            raise CorruptCheckpointError(f"{self.folder.path(CKPT_DIR, file)}: {why}")

    def model(self, step: int | None = None, *, device: str = "cpu") -> "HookedTransformer":
        """The ``HookedTransformer`` at ``step`` (default: the last checkpoint), in eval mode."""
        from grokscope.models.build import model_from_kwargs, model_from_state

        state = self.state_dict(step, device=device)
        if isinstance(self.config, RunConfig) and self.config.model is not None:  # an imported model: its own shape
            return model_from_kwargs(self.config.model_kwargs(), state, device=device)
        return model_from_state(self.config.preset, self.task, state, device=device)

    def stack(self, names: Sequence[str] | None = None, steps: Sequence[int] | None = None) -> CheckpointStack:
        """Stack parameters over checkpoints into ``(n_checkpoints, *shape)`` tensors.

        Unreadable checkpoints are skipped and reported in ``CheckpointStack.skipped``.
        """
        import torch

        manifest, want = self.manifest(), self._shapes()  # read once: one snapshot for the whole stack
        wanted = manifest.steps if steps is None else list(steps)
        got: list[int] = []
        per_name: dict[str, list[Tensor]] = {}
        skipped: list[tuple[int, str]] = []
        for step in wanted:
            try:
                sd = self._load(self._entry(step, manifest), want)
            except (CorruptCheckpointError, KeyError) as e:
                skipped.append((step, str(e)))
                continue
            got.append(step)
            for k in names or sd:
                per_name.setdefault(k, []).append(sd[k])
        return CheckpointStack(got, {k: torch.stack(v) for k, v in per_name.items()}, skipped)

    def metrics_rows(self) -> list[dict[str, Any]]:
        return read_metrics(self.path)

    def metrics(self) -> "pd.DataFrame":
        """Metrics as a DataFrame indexed by step."""
        import pandas as pd

        return pd.DataFrame(self.metrics_rows()).set_index("step")

    def first_step_at(self, column: str, threshold: float) -> int | None:
        """First evaluated step where ``column >= threshold``."""
        return next((r["step"] for r in self.metrics_rows() if (r.get(column) or -1) >= threshold), None)

    @property
    def is_lm(self) -> bool:
        """A character-level language-model run (``grokscope.training.lm``)."""
        return self.info["config"].get("trainer") == "lm"

    @property
    def grok_step(self) -> int | None:
        """First step where test accuracy reached the run's grok threshold (None for LM runs)."""
        if not isinstance(self.config, RunConfig):  # a language-model run (is_lm)
            return None
        return self.first_step_at("test_acc", self.config.train.grok_threshold)

    @property
    def best_step(self) -> int | None:
        """The evaluated step with the highest task ``score`` (first one on ties), if any."""
        rows = [r for r in self.metrics_rows() if r.get("score") is not None]
        return max(rows, key=lambda r: (r["score"], -r["step"]))["step"] if rows else None

    def summary(self) -> dict[str, Any]:
        rows = self.metrics_rows()
        last = rows[-1] if rows else {}
        return {
            "run": self.name,
            "task": self.task.name,
            "preset": self.config.preset,
            "seed": self.config.seed,
            "steps": last.get("step"),
            "checkpoints": len(self.steps),
            "train_99": self.first_step_at("train_acc", 0.99),
            "test_99": self.first_step_at("test_acc", 0.99),
            "test_acc": last.get("test_acc"),
            "finished": self.info.get("finished", False),
        }

    def __repr__(self) -> str:
        s = self.summary()
        parts = [f"{s['checkpoints']} checkpoints" + ("" if s["steps"] is None else f" to step {s['steps']}")]
        if not self.is_lm:  # character-level runs have no accuracy to reach 99%
            for split in ("train", "test"):
                at = s[f"{split}_99"]
                parts.append(f"{split} never reached 99%" if at is None else f"{split} 99% at step {at}")
        return f"Run({self.path}: {s['task']} {s['preset']} seed {s['seed']}, {', '.join(parts)})"


def load_run(path: str | Path) -> Run:
    """Open a run folder."""
    return Run(path)


def run_folders(folder: str | Path) -> list[Path]:
    """The run folders in ``folder`` (the folder itself if it is one), sorted by name, unopened."""
    folder = Path(folder)
    if is_run_dir(folder):
        return [folder]
    if not folder.is_dir():
        raise NotARunError(f"{folder} is not a folder")
    # A link among the runs could lead the analyses (which write caches) into another folder.
    return [p for p in sorted(folder.iterdir()) if not p.is_symlink() and is_run_dir(p)]


def find_runs(folder: str | Path) -> list[Run]:
    """Every run in ``folder`` (the folder itself if it is one), sorted by name."""
    return [Run(p) for p in run_folders(folder)]
