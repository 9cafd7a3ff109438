"""The notebook handle of a sweep folder: :class:`Sweep` (``gs.load_sweep``).

>>> sweep = load_sweep("checkpoints/sweep-mod97-frac-seed")   # doctest: +SKIP
>>> sweep.table()                                             # doctest: +SKIP
>>> sweep.report()                                            # doctest: +SKIP
"""

import os
from pathlib import Path
from typing import TYPE_CHECKING

from grokscope.sweeps.phases import PhaseRule
from grokscope.sweeps.record import SWEEP_FILE, SWEEP_LOCK, RunEntry, SweepRecord, read_record
from grokscope.sweeps.report import SweepStatus, open_run, sweep_status, sweep_table
from grokscope.sweeps.spec import SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from grokscope.store.run import Run

REPORT_DIR, REPORT_FILE = "report", "sweep.html"


class Sweep:
    """A sweep on disk: its spec, the live state of its runs, each run, its table and its report.

    Everything is read again on each call, so a handle on a sweep still running stays current.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        read_record(self.path)  # refuses a folder that is not a sweep, at once

    @property
    def spec(self) -> SweepSpec:
        """The sweep's spec as ``sweep.json`` holds it now (a sweep started again with more values grows)."""
        return self.record.spec

    @property
    def record(self) -> SweepRecord:
        """``sweep.json`` as it is now."""
        return read_record(self.path)

    @property
    def runs(self) -> tuple[RunEntry, ...]:
        """Every run's entry (name, swept values, state, reason, attempts, wall time), in grid order."""
        return self.record.runs

    def run(self, name: str) -> "Run":
        """The run folder of the run ``name`` (one of :attr:`runs`), opened."""
        names = [r.name for r in self.runs]
        if name not in names:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise KeyError(f"no run {name!r} in the sweep {self.path}; its runs: {shown}")
        run, problem = open_run(self.path, name)
        if run is None:
            if problem == "not started yet":
                raise ValueError(f"{name} has not started yet (it is {self.record.entry(name).state})")
            raise ValueError(f"{self.path / name}: {problem}")
        return run

    def table(self, analyze: bool = False, rule: PhaseRule = PhaseRule()) -> "pd.DataFrame":
        """One row per run (see :func:`grokscope.sweeps.report.sweep_table`)."""
        return sweep_table(self.path, analyze=analyze, rule=rule)

    def status(self) -> SweepStatus:
        """How far the sweep is and whether it is running (see :func:`grokscope.sweeps.report.sweep_status`)."""
        return sweep_status(self.path)

    def figures(self, analyze: bool = False, rule: PhaseRule = PhaseRule()) -> list:
        """The sweep's plotly figures (see :func:`grokscope.sweeps.figures.sweep_figures`)."""
        from grokscope.sweeps.figures import sweep_figures

        record = self.record
        return sweep_figures(sweep_table(self.path, record=record, analyze=analyze, rule=rule), record.spec)

    def report(
        self,
        path: str | Path | None = None,
        analyze: bool = False,
        rule: PhaseRule = PhaseRule(),
        title: str | None = None,
        table: "pd.DataFrame | None" = None,
    ) -> Path:
        """Write the standalone HTML report and return its path (default ``<sweep>/report/sweep.html``).

        A report inside the sweep folder is written without following any link there: a sweep folder
        may come from anyone, and a ``report`` link in it must not lead the write elsewhere.
        ``table`` is the sweep's :meth:`table` when the caller has it already.
        """
        from grokscope.store.folder import RunFolder
        from grokscope.sweeps.figures import write_sweep_report

        target = self.path / REPORT_DIR / REPORT_FILE if path is None else Path(path)
        inside = self._inside(target)
        if inside is not None:  # refused before the work (an analysis can take minutes), not after it
            target = Path(os.path.abspath(target))
            parts = target.relative_to(inside).parts
            if parts in ((SWEEP_FILE,), (SWEEP_LOCK,)):
                raise ValueError(f"{target} is the sweep's own file: give another report path")
            if len(parts) > 1 and parts[0] in {r.name for r in self.runs}:
                raise ValueError(
                    f"{target} lies in the run folder {parts[0]}: give a path outside the runs "
                    f"(default {self.path / REPORT_DIR / REPORT_FILE})"
                )
            if RunFolder(inside).is_file(*parts) and target.suffix.lower() not in (".html", ".htm"):
                raise ValueError(f"{target} exists and is not an HTML report: give another path")
            try:
                RunFolder(inside).check_contained(*parts[:-1])
            except NotADirectoryError as e:
                raise ValueError(f"{e}, so the report cannot be written there: give another path") from None
            if RunFolder(inside).is_dir(*parts):
                raise ValueError(f"{target} is a folder: give a file name such as {target / REPORT_FILE}")
        elif target.is_dir():
            raise ValueError(f"{target} is a folder: give a file name such as {target / REPORT_FILE}")
        record = self.record  # one reading for the table and the figures' grid
        if table is None:
            table = sweep_table(self.path, record=record, analyze=analyze, rule=rule)
        return write_sweep_report(table, record.spec, target, title=title, inside=inside)

    def _inside(self, target: Path) -> Path | None:
        """The sweep folder, as a prefix of ``target``, when ``target`` lies in it (compared without
        following links: a link inside the sweep folder is what must be caught)."""
        root, where = Path(os.path.abspath(self.path)), Path(os.path.abspath(target))
        if where == root or root not in where.parents:
            return None
        return root

    def __repr__(self) -> str:
        try:
            record = self.record
        except ValueError as e:  # a sweep.json damaged since: the handle still prints
            return f"Sweep({str(self.path)!r}: sweep.json unreadable ({str(e).splitlines()[0][:80]}))"
        state = ", ".join(f"{n} {s}" for s, n in record.counts().items() if n) or "no runs"
        return f"Sweep({str(self.path)!r}: {record.spec.describe()}; {state})"


def load_sweep(path: str | Path) -> Sweep:
    """Open a sweep folder (one that ``grokscope sweep`` or ``gs.sweep`` wrote)."""
    return Sweep(path)


__all__ = ["REPORT_DIR", "REPORT_FILE", "Sweep", "load_sweep"]
