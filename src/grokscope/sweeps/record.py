"""A sweep folder's own file, ``sweep.json``: the spec, the expanded runs, and each run's state.

Only the process running the sweep writes it (atomically, under the sweep's lock ``.sweep.lock``);
``grokscope sweep status`` and ``gs.load_sweep`` only read it. Like a run folder, a sweep folder is
untrusted input: the file is schema-checked on reading, run names must be plain folder names, and
every read and write goes through :class:`~grokscope.store.folder.RunFolder`.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from grokscope.store.folder import RunFolder, check_name
from grokscope.sweeps.spec import SweepSpec

SWEEP_FILE = "sweep.json"
SWEEP_LOCK = ".sweep.lock"
FORMAT = 1
State = Literal["pending", "running", "done", "failed"]
STATES: tuple[str, ...] = ("pending", "running", "done", "failed")


class DamagedSweepError(ValueError):
    """``sweep.json`` is unreadable or not what a sweep writes."""


@dataclass(frozen=True)
class RunEntry:
    """One run of a sweep as ``sweep.json`` records it.

    ``reason`` says why a failed run failed (one line); ``attempts`` counts its starts, across
    re-runs of the sweep; ``wall_s`` is the time its last attempt took.
    """

    name: str
    values: dict[str, Any]
    state: State = "pending"
    reason: str | None = None
    attempts: int = 0
    wall_s: float | None = None


@dataclass(frozen=True)
class SweepRecord:
    """Everything ``sweep.json`` holds."""

    spec: SweepSpec
    runs: tuple[RunEntry, ...]
    created: str = ""
    backend: dict[str, Any] = field(default_factory=dict)

    def entry(self, name: str) -> RunEntry:
        return next(r for r in self.runs if r.name == name)

    def with_entry(self, entry: RunEntry) -> "SweepRecord":
        return replace(self, runs=tuple(entry if r.name == entry.name else r for r in self.runs))

    def counts(self) -> dict[str, int]:
        return {s: sum(r.state == s for r in self.runs) for s in STATES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "spec": self.spec.to_dict(),
            "created": self.created,
            "backend": self.backend,
            "runs": [asdict(r) for r in self.runs],
        }


def new_record(spec: SweepSpec, created: str) -> SweepRecord:
    return SweepRecord(spec=spec, runs=tuple(RunEntry(p.name, p.values) for p in spec.runs()), created=created)


def is_sweep_dir(path: str | Path) -> bool:
    return RunFolder(path).is_file(SWEEP_FILE)


def read_record(path: str | Path) -> SweepRecord:
    """``path/sweep.json``, checked against the spec it holds: a ``ValueError`` when it is missing,
    :class:`DamagedSweepError` when it is not what a sweep writes."""
    folder = RunFolder(path)
    try:
        size = folder.size_and_mtime(SWEEP_FILE)
        if size is not None and size[0] > MAX_FILE_BYTES:
            raise DamagedSweepError(
                f"{folder.path(SWEEP_FILE)} is {size[0]:,} bytes, more than a sweep of "
                f"{MAX_RECORD_RUNS:,} runs writes: start the sweep in a new --out"
            )
        raw = folder.read_bytes(SWEEP_FILE)
    except FileNotFoundError:
        if not Path(path).exists():
            raise ValueError(f"no sweep at {path}: no such folder") from None
        raise ValueError(f"{path} is not a sweep (no {SWEEP_FILE}): start one with grokscope sweep TASK ...") from None
    except NotADirectoryError:
        raise ValueError(f"{path} is not a folder, so not a sweep: give a sweep folder") from None
    except IsADirectoryError:
        raise DamagedSweepError(f"{folder.path(SWEEP_FILE)} is a folder, not a sweep's file") from None
    try:
        d = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        return _record_from_dict(d)
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        TypeError,
        KeyError,
        ValueError,
        AttributeError,
        RecursionError,
        OverflowError,
    ) as e:
        raise DamagedSweepError(
            f"{folder.path(SWEEP_FILE)} is damaged ({(str(e).splitlines() or [''])[0][:120]}): "
            "start the sweep in a new --out"
        ) from None


MAX_RECORD_RUNS = 100_000
"""Most runs a ``sweep.json`` may hold when read (``--max-runs`` can raise a new sweep's cap; this one
bounds what a crafted file can make a reader expand)."""
MAX_FILE_BYTES = 64 * 2**20


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a sweep writes")


def _record_from_dict(d: Any) -> SweepRecord:
    if not isinstance(d, dict) or type(d.get("format")) is not int or d["format"] != FORMAT:
        raise ValueError(f"not a format-{FORMAT} sweep file")
    if not isinstance(d.get("runs"), list) or not isinstance(d.get("spec"), dict):
        raise ValueError("it has no spec or no runs list")
    spec = SweepSpec.from_dict(d["spec"], max_runs=MAX_RECORD_RUNS)
    if spec.size != len(d["runs"]):  # before the grid is expanded: a small file may describe a huge grid
        raise ValueError(f"its spec makes {spec.size:,} runs but it lists {len(d['runs']):,}")
    plans = {p.name: p for p in spec.runs()}
    runs = []
    for r in d["runs"]:
        if not isinstance(r, dict) or set(r) != {"name", "values", "state", "reason", "attempts", "wall_s"}:
            raise ValueError("a run entry has other keys than a sweep writes")
        name = check_name(r["name"], "run name")
        if name not in plans or plans[name].values != r["values"]:
            raise ValueError(f"run {name!r} is not one of the spec's runs")
        if r["state"] not in STATES or not (r["reason"] is None or isinstance(r["reason"], str)):
            raise ValueError(f"run {name!r} has an unknown state")
        if isinstance(r["attempts"], bool) or not isinstance(r["attempts"], int) or not 0 <= r["attempts"] <= 10**9:
            raise ValueError(f"run {name!r} has a bad attempts count")
        wall = r["wall_s"]
        if wall is not None and (isinstance(wall, bool) or not isinstance(wall, (int, float)) or not 0 <= wall <= 1e10):
            raise ValueError(f"run {name!r} has a bad wall time")
        reason = None if r["reason"] is None else _printable(r["reason"])
        runs.append(
            RunEntry(name, r["values"], r["state"], reason, r["attempts"], None if wall is None else float(wall))
        )
    if [r.name for r in runs] != list(plans):
        raise ValueError("its runs are not the spec's runs")
    backend = d.get("backend", {})
    if not isinstance(backend, dict) or not isinstance(d.get("created", ""), str) or set(backend) - set(_BACKEND):
        raise ValueError("bad backend or created field")
    for key, value in backend.items():
        kind, hi = _BACKEND[key]
        if (
            not isinstance(value, kind)
            or isinstance(value, bool)
            or (hi and not (isinstance(value, int) and 1 <= value <= hi))
        ):
            raise ValueError(f"bad backend field {key}")
    return SweepRecord(spec=spec, runs=tuple(runs), created=d.get("created", "")[:64], backend=backend)


_BACKEND = {"name": (str, 0), "workers": (int, 10**6), "threads": (int, 10**6), "device": (str, 0)}


def _printable(text: str) -> str:
    """A reason as one line of printable characters (a crafted one may hold escape codes)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:1000]


def write_record(path: str | Path, record: SweepRecord) -> None:
    RunFolder(path).write_json(SWEEP_FILE, obj=record.to_dict())


def spec_difference(have: SweepSpec, asked: SweepSpec) -> str | None:
    """How ``asked`` differs from the sweep already in a folder (one phrase), or None if it is the same.

    The order of fixed options does not matter; the order of swept ones does (it orders the grid).
    """
    a, b = dict(have.axes), dict(asked.axes)
    for name in [*a, *[k for k in b if k not in a]]:
        if a.get(name) != b.get(name):

            def show(v: Any) -> str:
                return "not set" if v is None else ", ".join(map(str, v))

            return f"{name}: it has {show(a.get(name))}, you asked for {show(b.get(name))}"
    if have.swept != asked.swept:
        return f"the swept options' order: it has {', '.join(have.swept)}, you asked for {', '.join(asked.swept)}"
    if have.name_by != asked.name_by:
        return "the options its runs are named by"
    return None


def extended(record: SweepRecord, spec: SweepSpec) -> SweepRecord | None:
    """``record`` grown to ``spec`` when ``spec`` only adds values to its options (more seeds, say) and
    every run already there keeps its name and values; else None. The runs there keep their states."""
    old, new = dict(record.spec.axes), dict(spec.axes)
    if set(old) != set(new) or record.spec.name_by != spec.name_by:
        return None
    if any(not set(old[k]) <= set(new[k]) for k in old) or any(len(old[k]) > 1 and len(new[k]) == 1 for k in old):
        return None
    plans = {p.name: p for p in spec.runs()}
    if any(r.name not in plans or plans[r.name].values != r.values for r in record.runs):
        return None
    have = {r.name: r for r in record.runs}
    runs = tuple(have.get(name, RunEntry(name, p.values)) for name, p in plans.items())
    return replace(record, spec=spec, runs=runs)


__all__ = [
    "STATES",
    "SWEEP_FILE",
    "SWEEP_LOCK",
    "DamagedSweepError",
    "RunEntry",
    "SweepRecord",
    "extended",
    "is_sweep_dir",
    "new_record",
    "read_record",
    "spec_difference",
    "write_record",
]
