"""``grokscope sweep``: many runs as one experiment; ``sweep status`` and ``sweep report`` of one.

``grokscope sweep TASK [train options]`` takes every option of ``grokscope train``, each with
one value or several (``--frac 0.2,0.3``, ``--seed 0..4``, ``--wd 0.1:3:log6``), and trains the
grid of their product into one sweep folder. The first word after ``sweep`` is a subcommand
(``status``, ``report``) or else the task: ``run`` is implied.
"""

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from .errors import exits_on_user_error, fail, info, one_line_warnings, user_errors

Opt = typer.Option


class _RunByDefault(TyperGroup):
    """``grokscope sweep mod97 ...`` means ``grokscope sweep run mod97 ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            import difflib

            near = difflib.get_close_matches(args[0], [c for c in self.commands if c != "run"], n=1, cutoff=0.75)
            if near:  # 'stauts' is a typo, not a task
                fail(f"no such command {args[0]!r} (did you mean {near[0]!r}?): run grokscope sweep --help")
            args = ["run", *args]
        return super().parse_args(ctx, args)


class _RunCommand(TyperCommand):
    """``run``'s context is the ``typer.Context`` its signature names (typer itself makes the plain
    click one, which a runtime type checker refuses)."""

    context_class = typer.Context


app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    help="Sweeps: a grid of runs as one resumable experiment (grokscope sweep TASK --frac 0.2,0.3 "
    "--seed 0..4), and its status and report.",
)

SWEEP_FLAGS = "--out, --workers, --threads, --backend, --address, --device, --max-runs, --spec, --dry-run, --quiet"


@app.command(
    "run",
    cls=_RunCommand,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    options_metavar="TASK [TRAIN OPTIONS, EACH WITH ONE VALUE OR SEVERAL] [OPTIONS]",
)
@exits_on_user_error
def run_cmd(
    ctx: typer.Context,
    out: Annotated[
        Optional[Path], Opt(help="the sweep folder (default checkpoints/sweep-<task>-<swept options>)")
    ] = None,
    workers: Annotated[
        Optional[int], Opt(help="runs trained side by side (default: CPU cores / --threads; 1 with --device cuda)")
    ] = None,
    threads: Annotated[
        int,
        Opt(
            help="CPU threads per run (1: the small models here gain little from more, "
            "and runs side by side use the cores better)"
        ),
    ] = 1,
    backend: Annotated[
        str, Opt(help="local (worker processes) or ray (Ray tasks; needs grokscope's ray extra installed)")
    ] = "local",
    address: Annotated[
        Optional[str], Opt(help="--backend ray: the cluster's head, HOST:PORT (default: a local Ray instance)")
    ] = None,
    device: Annotated[str, Opt(help="cpu, cuda or auto (every run on it)")] = "cpu",
    max_runs: Annotated[int, Opt(help="refuse a grid of more runs than this")] = 1000,
    spec: Annotated[
        Optional[Path],
        Opt(help='a TOML file of options (frac = [0.2, 0.3], seed = "0..4"); options on the command line add to it'),
    ] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="print the runs the grid expands to, train nothing")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Train every run of a grid of train options into one sweep folder; the same command again continues it.

    Takes the task and every option of grokscope train (--frac, --seed, --wd, --steps, ...).
    Each takes one value or several: a list 0.2,0.3,0.5; an integer range 0..4 (both ends);
    a float range LOW:HIGH:linN or LOW:HIGH:logN (N points, both ends, e.g. --wd 0.1:3:log6).
    Runs are named from the values that vary (frac0.3-seed2).
    Finished runs are skipped, interrupted ones resume from their last checkpoint, failed ones are tried again.
    Exit code 1 when a run failed.
    """
    from grokscope.bounds import check_int
    from grokscope.sweeps.record import MAX_RECORD_RUNS
    from grokscope.sweeps.spec import read_toml_spec, spec_from_args

    check_int("--max-runs", max_runs, hi=MAX_RECORD_RUNS)
    base = read_toml_spec(spec) if spec is not None else None
    tokens = list(ctx.args)
    if not tokens and base is None:
        fail(
            "give a task and the options to sweep, e.g. grokscope sweep mod97 --frac 0.3,0.5 --seed 0..2 "
            "(or --spec FILE)"
        )
    try:
        sweep_spec = spec_from_args(tokens, base=base, max_runs=max_runs)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("unknown option"):
            msg += f"; and its own: {SWEEP_FLAGS}"
        raise ValueError(msg) from None
    from grokscope.sweeps.engine import default_out

    folder = out if out is not None else default_out(sweep_spec)
    if dry_run:
        _dry_run(sweep_spec, folder, device=device, threads=threads)
        return
    _run(
        sweep_spec,
        folder,
        backend=backend,
        workers=workers,
        threads=threads,
        device=device,
        address=address,
        quiet=quiet,
    )


def _dry_run(spec: Any, folder: Path, *, device: str, threads: int) -> None:
    from grokscope.sweeps.engine import open_record, plan_jobs

    record = open_record(folder, spec)  # refuses a folder holding another sweep, as the real run would
    plans = plan_jobs(spec, folder, device="cpu" if device == "auto" else device, threads=threads)
    states = {r.name: r.state for r in record.runs}
    typer.echo(f"{spec.describe()} in {folder}")
    width = max(len(n) for n in plans)
    for name, plan in plans.items():
        if plan.invalid:
            note = f"cannot run: {plan.invalid}"
        else:
            note = f"{plan.steps:,} steps" + ("" if states.get(name, "pending") == "pending" else f", {states[name]}")
        typer.echo(f"  {name:<{width}}  {note}")


def _run(
    spec: Any,
    folder: Path,
    *,
    backend: str,
    workers: int | None,
    threads: int,
    device: str,
    address: str | None,
    quiet: bool,
) -> None:
    from grokscope.runtime import speed_settings
    from grokscope.sweeps.engine import run_sweep
    from grokscope.sweeps.progress import SweepBar

    bar = None if quiet else SweepBar()
    try:
        with speed_settings():
            record = run_sweep(
                spec,
                folder,
                backend=backend,
                workers=workers,
                threads=threads,
                device=device,
                address=address,
                on_progress=bar or _notes_only,
            )
    except KeyboardInterrupt:
        if bar:
            bar.close()
        info(f"interrupted: run the same command to continue ({folder})")
        raise typer.Exit(code=130) from None
    except RuntimeError as e:  # the workers cannot start: nothing was marked failed, the same command continues
        if bar:
            bar.close()
        info(f"error: {str(e).splitlines()[0]}")
        raise typer.Exit(code=1) from None
    finally:
        if bar:
            bar.close()
    counts = record.counts()
    info(
        f"{folder}: {counts['done']} of {len(record.runs)} runs done, {counts['failed']} failed"
        + (f" (grokscope sweep status {folder})" if counts["failed"] else "")
        + f"; grokscope sweep report {folder} tabulates them"
    )
    if counts["failed"]:
        raise typer.Exit(code=1)


def _notes_only(progress: Any) -> None:
    for note in progress.notes:
        info(f"warning: {note}")


@app.command("status")
def status_cmd(
    path: Annotated[Path, typer.Argument(help="a sweep folder")],
    as_json: Annotated[bool, Opt("--json", help="print the status as JSON")] = False,
) -> None:
    """Where a sweep stands (it may be running elsewhere): each run's state, and the sweep's ETA."""
    with user_errors():
        from grokscope.sweeps.report import sweep_status

        status = sweep_status(path)
    if as_json:
        typer.echo(json.dumps(_jsonable(status), indent=1))
        return
    typer.echo(_status_text(status))


def _status_text(status: Any) -> str:
    lines = [f"{status.path}: {status.describe()}"]
    for r in status.running:
        state = "running" if status.alive else "interrupted"
        step = "-" if r.step is None else f"{r.step:,}"
        budget = "-" if r.steps is None else f"{r.steps:,}"
        lines.append(f"  {r.name}  {state}  step {step} of {budget}")
    for name, reason in status.failed:
        lines.append(f"  {name}  failed: {reason}")
    return "\n".join(lines)


@app.command("report")
def report_cmd(
    path: Annotated[Path, typer.Argument(help="a sweep folder")],
    as_json: Annotated[bool, Opt("--json", help="print the table as JSON (one object a run)")] = False,
    analyze: Annotated[
        bool,
        Opt(
            "--analyze",
            help="add each run's Fourier analysis (key frequencies, phase "
            "boundaries); cached in the run as by analyze fourier",
        ),
    ] = False,
    out: Annotated[Optional[Path], Opt(help="the HTML report (default <sweep>/report/sweep.html)")] = None,
    accuracy: Annotated[float, Opt(help="phase rule: the accuracy train and test must reach")] = 0.9,
    window: Annotated[
        int, Opt(help="phase rule: test within this many steps of train is comprehension, later is grokking")
    ] = 1000,
) -> None:
    """One row per run: swept values, steps to 90%/99% train and test accuracy, final losses, weight norm, phase.

    The phase is Liu et al.'s (--accuracy, --window). Also writes an HTML report with the figures.
    """
    with user_errors():
        from grokscope.sweeps.handle import load_sweep
        from grokscope.sweeps.phases import PhaseRule

        sweep = load_sweep(path)
        rule = PhaseRule(accuracy=accuracy, window=window)
        with one_line_warnings():
            table = sweep.table(analyze=analyze, rule=rule)
        page = sweep.report(out, rule=rule, table=table)
    if as_json:
        typer.echo(table.to_json(orient="records", indent=1))
    else:  # a reason when none failed, a best score of a mod<p> sweep: left out when no run has one
        shown = table.loc[:, [c for c in table.columns if c not in ("reason", "best_score") or table[c].notna().any()]]
        if "reason" in shown:
            shown = shown.assign(reason=shown["reason"].fillna(""))
        typer.echo(shown.to_string(index=False))
    info(f"report: {page}")


def _jsonable(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
