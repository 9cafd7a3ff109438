"""Running a sweep: decide which runs still need training, hand them to a backend, keep ``sweep.json``.

Started again with the same spec (or one that only adds values, such as more seeds), a sweep continues: runs that finished are skipped, runs that
were running when it stopped resume from their last checkpoint (the run store's resume), and
failed runs are tried again. A different spec in the folder is refused before anything is
written. Every run's config is built before the first write, so a spec that cannot make a
single valid run is an error, while a spec with some invalid runs records those as failed
(with the reason) and trains the rest.
"""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from grokscope.store.folder import RunFolder, check_name_lengths
from grokscope.store.records import METRICS_FILE
from grokscope.sweeps.jobs import RunJob, build_config, one_line
from grokscope.sweeps.record import (
    SWEEP_LOCK,
    State,
    SweepRecord,
    extended,
    is_sweep_dir,
    new_record,
    read_record,
    spec_difference,
    write_record,
)
from grokscope.sweeps.spec import RunPlan, SweepSpec


@dataclass(frozen=True)
class SweepProgress:
    """What a progress display needs, sent after every change and every ``poll_s`` seconds.

    ``running`` maps each run in flight to the fraction of its steps done; ``resumed`` counts the
    runs that were already done when this start began (they are not part of the rate);
    ``notes`` are one-line messages since the last call (runs that failed, and why).
    """

    record: SweepRecord
    running: dict[str, float]
    resumed: int
    elapsed_s: float
    notes: tuple[str, ...] = ()


@dataclass
class _Plan:
    job: RunJob
    steps: int
    invalid: str | None = None
    notes: list[str] = field(default_factory=list)


def default_out(spec: SweepSpec) -> Path:
    """``checkpoints/sweep-<task>-<swept options>``: the same command finds the same folder again."""
    from grokscope.sweeps.spec import SHORT

    task = spec.fixed.get("task", "tasks")
    return Path("checkpoints") / "-".join(["sweep", str(task), *(SHORT.get(k, k) for k in spec.swept)])


def open_record(out: Path, spec: SweepSpec) -> SweepRecord:
    """The sweep in ``out`` if it is this spec's, else a new record (nothing is written here)."""
    check_name_lengths(out)
    for parent in [out, *out.parents]:
        if parent.exists() or parent.is_symlink():
            if parent != out and not parent.is_dir():
                raise ValueError(f"{parent} is a file, not a folder: choose another --out")
            break
    if is_sweep_dir(out):
        have = read_record(out)
        diff = spec_difference(have.spec, spec)
        grown = extended(have, spec) if diff is not None else have
        if grown is None:
            raise ValueError(
                f"{out} holds another sweep ({diff}): give the same options to continue it, or choose another --out"
            )
        return grown
    if out.is_symlink() or (out.exists() and (not out.is_dir() or any(_ours_or_user(p) for p in out.iterdir()))):
        raise ValueError(f"{out} exists and is not a sweep: choose another --out")
    return new_record(spec, created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _ours_or_user(p: Path) -> bool:
    """Anything but the lock and temporaries a sweep killed before its first ``sweep.json`` leaves."""
    return not (p.name == SWEEP_LOCK or (p.name.startswith(".") and p.name.endswith(".tmp")))


def plan_jobs(
    spec: SweepSpec, out: Path, *, device: str, threads: int, make_config: Callable[[RunPlan], Any] | None = None
) -> dict[str, _Plan]:
    """Every run's job, its step budget, and why it cannot run (if so), built without writing anything.

    ``make_config`` turns a run's plan into its run config (default: from its options, as
    ``grokscope train`` does); a ``ValueError`` from it marks the run invalid.
    """
    plans = {}
    where = os.path.abspath(out)  # workers elsewhere (Ray nodes) start in other folders
    for p in spec.runs():
        try:
            config = (make_config or _config_of)(p)
        except (ValueError, KeyError, TypeError) as e:
            job = RunJob(p.name, {}, where, device=device, threads=threads)
            plans[p.name] = _Plan(job, 0, one_line(e))
            continue
        init_from = p.options.get("init_from")
        job = RunJob(
            p.name,
            config.to_dict(),
            where,
            init_from=None if init_from is None else os.path.abspath(init_from),
            device=device,
            threads=threads,
        )
        plans[p.name] = _Plan(job, config.train.steps)
    return plans


def _config_of(plan: RunPlan) -> Any:
    return build_config(plan.options)


def run_sweep(
    spec: SweepSpec,
    out: str | Path | None = None,
    *,
    backend: str = "local",
    workers: int | None = None,
    threads: int = 1,
    device: str = "cpu",
    address: str | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    poll_s: float = 1.0,
    make_config: Callable[[RunPlan], Any] | None = None,
) -> SweepRecord:
    """Train every run of ``spec`` not yet done into ``out`` (default :func:`default_out`) and return the record.

    ``backend`` is ``local`` (``workers`` processes of ``threads`` CPU threads) or ``ray``
    (``address`` of a cluster, else a local instance). ``device`` is ``cpu``, ``cuda`` or ``auto``.
    ``make_config`` (Python only) builds each run's config from its plan, for runs the options of
    ``grokscope train`` cannot describe; a run folder refuses a config other than the one it holds.
    """
    from grokscope.bounds import check_int
    from grokscope.store.lock import RunLock
    from grokscope.sweeps.backends import make_backend
    from grokscope.training.train import resolve_device

    check_int("threads", threads, hi=1024)
    check_int("workers", workers, hi=4096, none_ok=True)
    out = Path(out) if out is not None else default_out(spec)
    record = open_record(out, spec)
    device = resolve_device(device)
    plans = plan_jobs(spec, out, device=device, threads=threads, make_config=make_config)
    done_before = {r.name for r in record.runs if r.state == "done"}
    if all(p.invalid for name, p in plans.items() if name not in done_before) and len(done_before) < len(plans):
        name, p = next((n, p) for n, p in plans.items() if n not in done_before)
        raise ValueError(f"no run of this sweep can start: {p.invalid}" + (f" ({name})" if len(plans) > 1 else ""))
    runner = make_backend(backend, out=str(out), workers=workers, threads=threads, device=device, address=address)
    try:
        RunFolder(out).make_dirs()
        with RunLock(out, file=SWEEP_LOCK, doing="swept"):
            record = open_record(out, spec)  # again, under the lock: another process may have changed it
            done_before = {r.name for r in record.runs if r.state == "done"}
            return _drive(
                record,
                plans,
                runner,
                out,
                done_before,
                on_progress,
                poll_s,
                {"name": backend, "workers": runner.capacity, "threads": threads, "device": device},
            )
    finally:
        runner.close()


def _drive(
    record: SweepRecord,
    plans: dict[str, _Plan],
    runner: Any,
    out: Path,
    done_before: set[str],
    on_progress: Callable[[SweepProgress], None] | None,
    poll_s: float,
    backend: dict[str, Any],
) -> SweepRecord:
    notes: list[str] = []
    for r in record.runs:  # interrupted runs resume, failed ones are tried again, invalid ones fail
        invalid = plans[r.name].invalid or _not_a_folder(out, r.name)
        if r.state != "done":
            state: State = "failed" if invalid else "pending"
            record = record.with_entry(replace(r, state=state, reason=invalid or None))
            if invalid:
                notes.append(f"{r.name} cannot run: {invalid}")
    record = replace(record, backend=backend)
    write_record(out, record)
    queue = [r.name for r in record.runs if r.state == "pending"]
    in_flight: set[str] = set()
    t0 = last = time.monotonic()

    def report() -> None:
        nonlocal notes
        if on_progress is not None:
            running = {n: _fraction_done(out, n, plans[n].steps) for n in sorted(in_flight)}
            on_progress(SweepProgress(record, running, len(done_before), time.monotonic() - t0, tuple(notes)))
        notes = []

    try:
        report()
        while queue or in_flight:
            while queue and len(in_flight) < runner.capacity:
                name = queue.pop(0)
                entry = record.entry(name)
                record = record.with_entry(replace(entry, state="running", attempts=entry.attempts + 1))
                runner.submit(plans[name].job)
                in_flight.add(name)
                write_record(out, record)
            ended = runner.wait(timeout=poll_s)
            for outcome in ended:
                in_flight.discard(outcome.name)
                state = "done" if outcome.ok else "failed"
                record = record.with_entry(
                    replace(
                        record.entry(outcome.name), state=state, reason=outcome.reason, wall_s=round(outcome.wall_s, 3)
                    )
                )
                if not outcome.ok:
                    notes.append(f"{outcome.name} failed: {outcome.reason}")
            if ended:
                write_record(out, record)
            if ended or time.monotonic() - last >= poll_s:
                last = time.monotonic()
                report()
    except BaseException:  # Ctrl-C, or an error of the engine itself: what was running is pending again
        runner.close()
        for name in in_flight:
            record = record.with_entry(replace(record.entry(name), state="pending"))
        write_record(out, record)
        raise
    report()
    return record


def _not_a_folder(out: Path, name: str) -> str | None:
    """Why the run's folder cannot be trained into: a link (it could lead anywhere) or a file."""
    path = out / name
    if path.is_symlink():
        return f"{path} is a symbolic link, not followed: remove it (or move the real folder there)"
    if path.exists() and not path.is_dir():
        return f"{path} is a file, not a run folder: remove it"
    return None


def _fraction_done(out: Path, name: str, steps: int) -> float:
    """How far a running run is, from the last line of its metrics (0 before the first; at most 0.99
    until it is done, since a run writes its last checkpoint after its last evaluation)."""
    try:
        tail = RunFolder(out).read_bytes(name, METRICS_FILE)[-4096:]  # never through a link
        step = json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])["step"]
        return min(max(float(step) / max(steps, 1), 0.0), 0.99)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return 0.0


__all__ = ["SweepProgress", "default_out", "open_record", "plan_jobs", "run_sweep"]
