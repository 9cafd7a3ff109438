"""``grokscope analyze fourier PATH``: key frequencies, progress measures, phases, HTML report.

PATH is a run folder, or a folder of runs: then every run in it is analysed in name order (one
bad run is reported and skipped; the exit code is 2 only when no run could be analysed). With
``--json`` the output is one JSON object when PATH comes down to one run (a run folder, or a
folder holding a single run such as ``checkpoints/`` after ``grokscope train``), and a list of
objects when it holds several.
The report is written to ``<run>/analysis/report.html`` unless ``--out`` names a file; with
several runs, ``--out report.html`` becomes ``report-<run>.html`` for each.
"""

import json
import textwrap
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grokscope.runtime import speed_settings

from .errors import fail, one_line_warnings, user_errors, warn_skipped
from .progress import CheckpointBar

app = typer.Typer(help="Open up trained runs: Fourier analysis and progress measures.", no_args_is_help=True)


@app.command("fourier")
def fourier_cmd(
    path: Annotated[Path, typer.Argument(help="a run folder, or a folder of runs (each one is analysed)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON instead of a table")] = False,
    out: Annotated[Optional[Path], typer.Option(help="HTML report file (default: <run>/analysis/report.html)")] = None,
    p: Annotated[Optional[int], typer.Option("--p", help="the modulus; must match the checkpoints")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="recompute even if a cached analysis is current")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Key frequencies, progress measures, phases and an HTML report of a run (or of each run in a folder).

    The analysis is cached in the run folder and reused until a checkpoint changes.
    """
    with one_line_warnings():
        _fourier(path, as_json=as_json, out=out, p=p, no_cache=no_cache, quiet=quiet)


def _fourier(path: Path, *, as_json: bool, out: Path | None, p: int | None, no_cache: bool, quiet: bool) -> None:
    with user_errors():
        from grokscope.analysis.fourier.pipeline import run_dirs

        dirs = run_dirs(path)
        if out is not None and out.exists() and out.is_dir():
            raise ValueError(f"--out {out} is a folder: give a file name such as {out / 'report.html'}")
    summaries: list[dict[str, Any]] = []
    failures: list[str] = []
    unwritten: list[str] = []  # analysed, but the report could not go where it had to
    for run_dir in dirs:
        try:
            with _errors_as_values():
                summary = _analyze_one(
                    run_dir, p=p, out=_out_for(out, run_dir, len(dirs)), use_cache=not no_cache, quiet=quiet or as_json
                )
                summaries.append(summary)
                if summary["report"] is None:
                    unwritten.append(summary.pop("report_error"))
        except _Failed as e:
            failures.append(str(e))
            if len(dirs) > 1:
                typer.echo(f"error: {run_dir.name}: {e}", err=True)
    if not summaries:
        fail(failures[0] if len(dirs) == 1 else f"no run in {path} could be analysed ({len(failures)} failed)")
    if as_json:
        typer.echo(json.dumps(summaries[0] if len(dirs) == 1 else summaries, indent=2))
    else:
        typer.echo("\n\n".join(_table(s) for s in summaries))
    if unwritten:  # the analysis is printed above; the report it could not write is the error
        fail(unwritten[0] if len(unwritten) == 1 else f"{len(unwritten)} reports could not be written ({unwritten[0]})")


class _Failed(Exception):
    pass


class _errors_as_values:
    """Turn the library's user errors into :class:`_Failed` so one bad run does not stop the rest."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ, exc, tb) -> None:  # other errors propagate as they are
        from .errors import USER_ERRORS

        if exc is not None and isinstance(exc, USER_ERRORS):
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise _Failed(str(msg).splitlines()[0] if msg else type(exc).__name__) from exc


def _out_for(out: Path | None, run_dir: Path, n_runs: int) -> Path | None:
    if out is None or n_runs == 1:
        return out
    return out.with_name(f"{out.stem}-{run_dir.name}{out.suffix or '.html'}")


def _analyze_one(run_dir: Path, *, p: int | None, out: Path | None, use_cache: bool, quiet: bool) -> dict[str, Any]:
    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.analysis.report_page import check_report_folder

    if out is None:  # refused before the work, not after it
        check_report_folder(run_dir)
    bar = None if quiet else CheckpointBar(run_dir.name)
    try:
        with speed_settings():
            fa = analyze_fourier(run_dir, p=p, use_cache=use_cache, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    warn_skipped(fa.run, fa.skipped)
    summary = fa.summary()
    try:
        summary["report"] = str(_write_report(fa, out))
    except ValueError as e:
        summary |= {"report": None, "report_error": str(e)}
    return summary


def _write_report(fa, out: Path | None) -> Path:
    """The report, rendered once per analysis (the library keeps a copy beside the cached analysis)."""
    from grokscope.analysis.fourier.report import cached_report_path, write_report_cached
    from grokscope.store.folder import RunFolderWriteError

    try:
        return write_report_cached(fa, out)
    except (OSError, RunFolderWriteError) as e:
        why = e.why if isinstance(e, RunFolderWriteError) else e.strerror or str(e)
        if out is None:
            raise ValueError(
                f"cannot write the report into {cached_report_path(fa).parent} ({why}): pass --out FILE"
            ) from None
        raise ValueError(f"cannot write the report to {out} ({why}): choose a writable --out") from None


def _g(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _table(s: dict[str, Any]) -> str:
    c = s["checks"]
    how = "cached" if s["cached"] else f"analysed in {s['elapsed_s']:.1f} s"
    keys = ", ".join(map(str, s["key_frequencies"])) or "none found"
    lines = [
        f"{s['run']}  ({s['task']}, {s['checkpoints']} checkpoints, steps {s['first_step']}-{s['last_step']}, {how})",
        f"key frequencies: {keys}   (they hold {_f(c['logit_map_share'], '.1%')} of W_L's and {_f(c['embed_share'], '.1%')} "
        f"of W_E's Fourier energy)",
        "",
        f"{'phase':<18} {'start':>7} {'end':>7}",
    ]
    for ph in s["phases"]:
        lines.append(f"{ph['name']:<18} {ph['start']:>7} {ph['end']:>7}" + ("" if ph["reached"] else "  (open)"))
    f = s["final"]
    lines += [
        "",
        f"final (step {f['step']}): train loss {_g(f['train_loss'])}, test loss {_g(f['test_loss'])}, "
        f"test acc {_f(f['test_acc'], '.4f')}, restricted loss {_g(f['restricted_loss'])}, excluded loss "
        f"{_g(f['excluded_loss'])}, Gini W_E {_f(f['gini_embed'], '.3f')} / W_L {_f(f['gini_logit_map'], '.3f')}, "
        f"sum of squared weights {_f(f['sq_weights'], '.1f')}",
        "",
    ]
    lines += textwrap.wrap(s["handover"], width=100)
    if s.get("basis", "").startswith("discrete"):
        lines.append(f"basis: {s['basis']}")
    if s.get("forward") == "hooked":
        lines.append(
            "computed with the TransformerLens forward (this model's shape or input format does not fit "
            "the fast grid forward)"
        )
    if s.get("split") == "all":
        lines.append(
            "train/test split unknown: every pair counts as both train and test (pass --frac/--seed or "
            "the saved train indices when importing)"
        )
    if s["skipped"]:
        lines.append(
            f"skipped {len(s['skipped'])} unreadable checkpoint(s): " + ", ".join(str(x["step"]) for x in s["skipped"])
        )
    lines += ["", f"report: {s['report'] or 'not written'}"]
    return "\n".join(lines)


# `analyze behavior` lives in its own file (typer's one file per command); registered here.
from .analyze_behavior import behavior_cmd  # noqa: E402

app.command("behavior")(behavior_cmd)
