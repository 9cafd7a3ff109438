"""A sweep as a table (one row per run) and its status, read from the sweep folder.

:func:`sweep_table` reads every run's metrics (and, on request, its cached Fourier analysis) into
a DataFrame in grid order; :func:`sweep_status` says how far a sweep is and whether the process
running it is alive. Both only read: the sweep folder and its runs are untrusted input (they may
come from anyone), so a run folder that is missing, damaged or a link gives a row with a
``reason`` and no numbers, never an error for the whole table.
"""

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokscope.sweeps.phases import PhaseRule, classify, first_step_reaching
from grokscope.sweeps.record import SWEEP_LOCK, SweepRecord, read_record

if TYPE_CHECKING:
    import pandas as pd

    from grokscope.store.run import Run

# Accuracy thresholds of the fixed "first step at" columns, by column suffix.
THRESHOLDS: tuple[tuple[str, float], ...] = (("90", 0.9), ("99", 0.99))
RESULT_COLUMNS: tuple[str, ...] = (
    "train_90",
    "test_90",
    "train_99",
    "test_99",
    "steps",
    "final_train_loss",
    "final_test_loss",
    "weight_norm",
    "best_score",
    "phase",
    "wall_s",
)
STEP_COLUMNS = ("train_90", "test_90", "train_99", "test_99", "steps")
# The Fourier analysis's phases (grokscope.analysis.fourier.phases.PHASE_NAMES), as columns of their end steps.
FOURIER_PHASE_COLUMNS: dict[str, str] = {
    "memorization": "memorization_end",
    "circuit formation": "circuit_formation_end",
    "cleanup": "cleanup_end",
}
ANALYSIS_COLUMNS: tuple[str, ...] = ("key_frequencies", *FOURIER_PHASE_COLUMNS.values())
# Anything reading one run folder can fail in these ways; each becomes that run's reason.
_UNREADABLE = (ValueError, OSError, KeyError, TypeError, IndexError, AttributeError, RecursionError, ArithmeticError)


def value_column(option: str) -> str:
    """The table's column holding a swept option's values: the option's name, or ``swept_<name>`` when
    that name is a result column already (``steps``: the step budget, beside the last step)."""
    return f"swept_{option}" if option in RESULT_COLUMNS or option in ("run", "state", "reason") else option


def sweep_table(
    path: str | Path,
    *,
    record: SweepRecord | None = None,
    analyze: bool = False,
    rule: PhaseRule = PhaseRule(),
    progress: Callable[[int, int], None] | None = None,
) -> "pd.DataFrame":
    """One row per run of the sweep in ``path``, in grid order.

    Columns: ``run``, ``state``, ``reason``, one per swept option (:func:`value_column`), then
    ``train_90``, ``test_90``, ``train_99``, ``test_99`` (first step each accuracy reached 0.9 /
    0.99, nullable ``Int64``), ``steps`` (last evaluated step), ``final_train_loss``,
    ``final_test_loss`` (a character-level run's validation loss), ``weight_norm`` (the L2 norm
    of all weights at the last evaluation), ``best_score`` (character-level runs), ``phase``
    (:func:`grokscope.sweeps.phases.classify` under ``rule``, for finished modular runs only: a
    run still going has no phase yet) and ``wall_s`` (the sweep's record of its last attempt).

    ``state`` is the record's, except that a run recorded ``running`` while no process holds the
    sweep's lock is ``interrupted``. ``record`` is ``path``'s record when already read.
    ``analyze=True`` adds each finished modular run's Fourier analysis (computed once, then read
    from the run's cache): ``key_frequencies`` (a list) and the steps where its memorization,
    circuit-formation and cleanup phases end (``<phase>_end``; missing when the run stopped inside
    that phase). A run that cannot be analysed gets missing values and a ``RuntimeWarning``.
    ``progress(done, total)`` is called after each run. ``table.attrs["phase_rule"]`` records the rule.
    """
    import pandas as pd

    from grokscope.store.lock import lock_holder

    path = Path(path)
    record = read_record(path) if record is None else record
    alive = lock_holder(path, SWEEP_LOCK) is not None
    swept = record.spec.swept
    rows = []
    total = len(record.runs)
    for i, entry in enumerate(record.runs):
        state = "interrupted" if entry.state == "running" and not alive else entry.state
        row: dict[str, Any] = {"run": entry.name, "state": state, "reason": entry.reason}
        row |= {value_column(k): entry.values.get(k) for k in swept}
        row |= dict.fromkeys(RESULT_COLUMNS)
        row["wall_s"] = entry.wall_s
        run, problem = open_run(path, entry.name)
        if run is None:  # and problem says why
            row["reason"] = entry.reason or problem
        else:
            try:
                row |= run_results(run, rule=rule, finished=entry.state == "done")
                if row["steps"] is None and row["reason"] is None:
                    row["reason"] = "no metrics yet"
            except _UNREADABLE as e:
                row["reason"] = entry.reason or f"its metrics are unreadable ({_one_line(e)})"
                run = None
        if analyze:
            row |= dict.fromkeys(ANALYSIS_COLUMNS)
            if entry.state == "done" and run is not None and not run.is_lm:
                row |= _analysis(run)
        rows.append(row)
        if progress is not None:
            progress(i + 1, total)
    columns = [
        "run",
        "state",
        "reason",
        *(value_column(k) for k in swept),
        *RESULT_COLUMNS,
        *(ANALYSIS_COLUMNS if analyze else ()),
    ]
    table = pd.DataFrame(rows, columns=columns)
    for col in STEP_COLUMNS + (tuple(FOURIER_PHASE_COLUMNS.values()) if analyze else ()):
        table[col] = pd.array([_int64(row[col]) for row in rows], dtype="Int64")  # from the rows: no trip through float
    for col in ("final_train_loss", "final_test_loss", "weight_norm", "best_score", "wall_s"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("float64")
    table.attrs["phase_rule"] = {"accuracy": rule.accuracy, "window": rule.window}  # for the report's caption
    return table


def _int64(v: Any) -> int | None:
    """``v`` if it fits the table's Int64 columns (a crafted metrics file may hold any integer)."""
    return v if isinstance(v, int) and -(2**63) <= v < 2**63 else None


def open_run(sweep: str | Path, name: str) -> "tuple[Run | None, str | None]":
    """The run folder ``sweep/name`` opened, or None and why not (not started, a link, damaged)."""
    from grokscope.store.folder import RunFolder
    from grokscope.store.run import NotARunError, Run

    folder = RunFolder(sweep)
    if not folder.is_dir(name):
        if (Path(sweep) / name).is_symlink():
            # A link could lead readers, and the analysis's cache writes, out of the sweep folder.
            return None, f"{name} is a symbolic link, not a run folder of the sweep: not read"
        if (Path(sweep) / name).exists():
            return None, f"{name} is not a folder"
        return None, "not started yet"
    try:
        return Run(Path(sweep) / name), None
    except NotARunError:  # a run's folder exists a moment before its run.json
        return None, "no run.json yet"
    except _UNREADABLE as e:
        return None, f"the run folder is unreadable ({_one_line(e)})"


def run_results(run: "Run", *, rule: PhaseRule = PhaseRule(), finished: bool = True) -> dict[str, Any]:
    """The result columns of :func:`sweep_table` for one opened run (``phase`` only when ``finished``)."""
    return metrics_results(run.metrics_rows(), lm=run.is_lm, rule=rule, finished=finished)


def metrics_results(
    rows: list[dict[str, Any]], *, lm: bool, rule: PhaseRule = PhaseRule(), finished: bool = True
) -> dict[str, Any]:
    """The result columns of :func:`sweep_table` from a run's metrics rows (``metrics.jsonl``).

    Accuracy columns and the phase need ``train_acc`` and ``test_acc``, which only modular runs
    log; a character-level (``lm``) run's test loss is its ``val_loss``, and it has a ``best_score``.
    """
    out: dict[str, Any] = dict.fromkeys(
        (
            "train_90",
            "test_90",
            "train_99",
            "test_99",
            "steps",
            "final_train_loss",
            "final_test_loss",
            "weight_norm",
            "best_score",
            "phase",
        )
    )
    if not rows:
        return out
    rows = sorted(rows, key=lambda r: r["step"])
    steps = [r["step"] for r in rows]
    out["steps"] = steps[-1]
    out["final_train_loss"] = _last(rows, "train_loss")
    out["final_test_loss"] = _last(rows, "val_loss" if lm else "test_loss")
    sq = _last(rows, "sq_weights")
    out["weight_norm"] = math.sqrt(sq) if sq is not None and sq >= 0 else None
    scores = [r["score"] for r in rows if _finite(r.get("score"))]
    out["best_score"] = max(scores) if scores else None
    if lm:
        return out
    train, test = [r.get("train_acc") for r in rows], [r.get("test_acc") for r in rows]
    for suffix, threshold in THRESHOLDS:
        out[f"train_{suffix}"] = first_step_reaching(steps, train, threshold)
        out[f"test_{suffix}"] = first_step_reaching(steps, test, threshold)
    if finished and any(_finite(v) for v in train):
        out["phase"] = classify(steps, train, test, rule).phase
    return out


def _last(rows: list[dict[str, Any]], column: str) -> float | None:
    """The value of ``column`` in the last row that has it (NaN kept: a loss that blew up is a result)."""
    value = next((r[column] for r in reversed(rows) if r.get(column) is not None), None)
    return None if value is None else float(value)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _analysis(run: "Run") -> dict[str, Any]:
    """The Fourier columns of one run; missing values and a warning when it cannot be analysed."""
    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.runtime import speed_settings

    try:
        with speed_settings():
            fa = analyze_fourier(run, use_cache=True)
    except _UNREADABLE as e:
        warnings.warn(f"{run.name}: not analysed ({_one_line(e)})", RuntimeWarning, stacklevel=3)
        return {}
    if fa.skipped:
        steps = ", ".join(str(s) for s, _ in fa.skipped[:5]) + (", ..." if len(fa.skipped) > 5 else "")
        warnings.warn(
            f"{run.name}: the analysis skipped {len(fa.skipped)} unreadable checkpoint(s) (step {steps})",
            RuntimeWarning,
            stacklevel=3,
        )
    out: dict[str, Any] = {"key_frequencies": [int(k) for k in fa.key_frequencies]}
    for phase in fa.phases:
        if phase.name in FOURIER_PHASE_COLUMNS:
            out[FOURIER_PHASE_COLUMNS[phase.name]] = int(phase.end) if phase.reached else None
    return out


def _one_line(e: BaseException) -> str:
    text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


# -- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunProgress:
    """A run the record says is running: its last evaluated step and its step budget (None if unknown)."""

    name: str
    step: int | None
    steps: int | None

    @property
    def fraction(self) -> float | None:
        """Share of the budget done, in [0, 1], or None."""
        if self.step is None or not self.steps:
            return None
        return min(max(self.step / self.steps, 0.0), 1.0)


@dataclass(frozen=True)
class SweepStatus:
    """Where a sweep stands (:func:`sweep_status`).

    ``counts`` maps each state (``pending``, ``running``, ``interrupted``, ``done``, ``failed``) to
    its number of runs; ``interrupted`` are runs recorded ``running`` while no process holds the
    sweep's lock (it was killed: running the same sweep command again resumes them). ``running``
    lists those runs (running or interrupted) with their progress, ``failed`` the failed runs with
    their reasons. ``alive`` says a process holds the sweep's lock (``pid``: the id it wrote);
    ``eta_s`` is a rough estimate of the seconds left while alive (from the finished runs' mean
    wall time and the number of workers), None when it cannot be estimated.
    """

    path: Path
    total: int
    counts: dict[str, int]
    alive: bool
    pid: str | None
    running: tuple[RunProgress, ...] = ()
    failed: tuple[tuple[str, str | None], ...] = ()
    eta_s: float | None = None
    created: str = ""
    backend: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Every run is done or failed."""
        return self.counts.get("done", 0) + self.counts.get("failed", 0) == self.total

    def describe(self) -> str:
        """One line, e.g. ``5/8 done, 2 running, 1 failed; running (pid 4242), about 3 min left``."""
        c = self.counts
        parts = [f"{c.get('done', 0)}/{self.total} done"]
        parts += [f"{c[s]} {s}" for s in ("running", "interrupted", "failed", "pending") if c.get(s)]
        if self.alive:
            tail = f"running (pid {self.pid})"
            if self.eta_s is not None:
                tail += f", about {_duration(self.eta_s)} left"
        elif self.finished:
            tail = "finished"
        else:
            tail = "not running: run the same sweep command again to continue it"
        return f"{', '.join(parts)}; {tail}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def sweep_status(path: str | Path) -> SweepStatus:
    """How far the sweep in ``path`` is, read from ``sweep.json``, its runs' metrics and its lock."""
    from grokscope.store.lock import lock_holder

    path = Path(path)
    record = read_record(path)
    pid = lock_holder(path, SWEEP_LOCK)
    alive = pid is not None
    counts = {s: 0 for s in ("pending", "running", "interrupted", "done", "failed")}
    running, failed = [], []
    fixed_steps = record.spec.fixed.get("steps")
    for entry in record.runs:
        state = "interrupted" if entry.state == "running" and not alive else entry.state
        counts[state] += 1
        if entry.state == "running":
            budget = entry.values.get("steps", fixed_steps)
            running.append(_progress(path, entry.name, budget if isinstance(budget, int) else None))
        elif entry.state == "failed":
            failed.append((entry.name, entry.reason))
    return SweepStatus(
        path=path,
        total=len(record.runs),
        counts=counts,
        alive=alive,
        pid=pid,
        running=tuple(running),
        failed=tuple(failed),
        eta_s=_eta(record, running) if alive else None,
        created=record.created,
        backend=dict(record.backend),
    )


def _progress(sweep: Path, name: str, budget: int | None) -> RunProgress:
    """A running run's last step (from its metrics) and budget (its own config first: it is the truth)."""
    run, _ = open_run(sweep, name)
    step = None
    if run is not None:
        try:
            rows = run.metrics_rows()
            step = max(r["step"] for r in rows) if rows else None
            budget = int(run.config.train.steps)
        except _UNREADABLE:
            pass
    return RunProgress(name, step, budget)


def _eta(record: SweepRecord, running: list[RunProgress]) -> float | None:
    """Seconds left: the work left (pending runs, and what running ones still have to do) at the mean
    wall time of a finished run, shared among the workers, but never less than the slowest running run
    needs."""
    walls = [r.wall_s for r in record.runs if r.state == "done" and r.wall_s is not None and r.wall_s >= 0]
    if not walls:
        return None
    mean = sum(walls) / len(walls)
    workers = record.backend.get("workers")
    workers = workers if isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1 else 1
    left = [1.0 - (r.fraction if r.fraction is not None else 0.0) for r in running]
    pending = sum(r.state == "pending" for r in record.runs)
    return max((pending + sum(left)) * mean / workers, max(left, default=0.0) * mean)


__all__ = [
    "ANALYSIS_COLUMNS",
    "FOURIER_PHASE_COLUMNS",
    "RESULT_COLUMNS",
    "RunProgress",
    "SweepStatus",
    "metrics_results",
    "open_run",
    "run_results",
    "sweep_status",
    "sweep_table",
    "value_column",
]
