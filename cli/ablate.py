"""``grokscope ablate [RUN] --circuit memorize`` (or ``generalize``): which circuit carries the model, over training.

For every analysed checkpoint (or ``--step N``): train and test loss and accuracy of the model as
trained and with the circuit removed, each circuit's share of train performance, the steps where
the shares cross 50%, and the loss increase when each key frequency alone is removed at the last
checkpoint. The circuits are defined in :mod:`grokscope.analysis.ablation.circuits`. The key frequencies
and phases come from the run's Fourier analysis, computed (and cached) first if needed.

RUN is a run folder, or a folder of runs: then every run in it is ablated in name order, as
``grokscope analyze fourier`` does, each named on stderr. With no RUN, the newest run in
``checkpoints/`` (the one trained last), named on stderr. The report
(both figures) goes to ``<run>/analysis/ablation-<circuit>.html`` unless ``--out`` names a file;
with several runs, ``--out ablation.html`` becomes ``ablation-<run>.html`` for each.
"""

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grokscope.runtime import speed_settings

from .errors import exits_on_user_error, info, warn_skipped

app = typer.Typer()

Opt = typer.Option


RUNS = Path("checkpoints")  # where grokscope train puts runs: its newest is ablated when no RUN is given


@app.command("ablate")
@exits_on_user_error
def ablate_cmd(
    run: Annotated[
        Optional[Path],
        typer.Argument(
            help="a run folder, or a folder of runs (each one is ablated); default: the newest run in checkpoints/",
            show_default=False,
        ),
    ] = None,
    # typer's mark of a required option, which mypy reads as a str default of the wrong type
    circuit: Annotated[str, Opt(help="generalize (remove the key-frequency part) or memorize (keep only it)")] = ...,  # type: ignore[assignment]
    step: Annotated[Optional[int], Opt(help="only this checkpoint (default: every checkpoint)")] = None,
    as_json: Annotated[bool, Opt("--json", help="print the result as JSON")] = False,
    out: Annotated[
        Optional[Path], Opt(help="HTML report file (default: <run>/analysis/ablation-<circuit>.html)")
    ] = None,
    method: Annotated[str, Opt(help="zero, mean or resample: what replaces the removed part")] = "zero",
    site: Annotated[str, Opt(help="logits (unembed.hook_out) or neurons (blocks.0.mlp.hook_post)")] = "logits",
    seed: Annotated[int, Opt(help="seed of the resample permutation")] = 0,
) -> None:
    """Remove a circuit (generalizing or memorizing) at every checkpoint and measure what is left.

    RUN is a run folder, or a folder of runs: then every run in it is ablated in name order, as
    grokscope analyze fourier does (one bad run is reported and skipped). With no RUN: the newest
    run in checkpoints/.
    """
    from grokscope.analysis.ablation.names import CIRCUITS, METHODS, SITES, check_choice
    from grokscope.analysis.ablation.report import report_file_name
    from grokscope.analysis.fourier.pipeline import run_dirs

    check_choice(circuit, CIRCUITS, "circuit")
    check_choice(method, METHODS, "ablation method")
    check_choice(site, SITES, "site")
    folder = RUNS if run is None else run
    if run is None and not folder.exists():
        raise ValueError(
            f"no run given and no {folder}/ folder here: name a run folder (grokscope ablate RUN --circuit "
            f"{circuit}), or train one first with grokscope train"
        )
    dirs = run_dirs(folder)
    if run is None:  # the run just trained, not every run a sweep left in checkpoints/
        folder = _newest(dirs)
        others = f" ({len(dirs) - 1} older run(s) there: name one to ablate it)" if len(dirs) > 1 else ""
        info(f"no run given: ablating the newest run in {RUNS}/, {folder}{others}")
        dirs = [folder]
    if out is not None and out.is_dir():
        raise ValueError(f"--out {out} is a folder: give a file name such as {out / report_file_name(circuit)}")
    options: dict[str, Any] = dict(circuit=circuit, step=step, method=method, site=site, seed=seed)
    if dirs == [folder]:  # a run folder, named
        _echo([_ablate_one(folder, out=out, **options)], as_json=as_json, several=False)
        return

    from .analyze import _errors_as_values, _Failed, _out_for

    done: list[tuple[Any, dict[str, Any]]] = []
    failures: list[str] = []
    for i, run_dir in enumerate(dirs, 1):
        info(f"ablating {run_dir}" + (f" ({i} of {len(dirs)} runs in {folder})" if len(dirs) > 1 else ""))
        try:
            with _errors_as_values():
                done.append(_ablate_one(run_dir, out=_out_for(out, run_dir, len(dirs)), **options))
        except _Failed as e:
            if len(dirs) == 1:
                raise ValueError(str(e)) from None
            failures.append(str(e))
            info(f"error: {run_dir.name}: {e}")
    if not done:
        raise ValueError(f"no run in {folder} could be ablated ({len(failures)} failed): {failures[0]}")
    _echo(done, as_json=as_json, several=len(dirs) > 1)


def _newest(dirs: list[Path]) -> Path:
    """The run whose manifest (rewritten at every checkpoint) changed last."""

    def changed(d: Path) -> float:
        for name in ("manifest.json", "run.json"):
            try:
                return (d / name).lstat().st_mtime  # lstat: a planted link is not followed
            except OSError:
                pass
        return d.lstat().st_mtime

    return max(dirs, key=lambda d: (changed(d), d.name))


def _echo(done: list[tuple[Any, dict[str, Any]]], *, as_json: bool, several: bool) -> None:
    """The result of each run ablated: one JSON object (a list of them for a folder of several runs), or tables."""
    if as_json:
        summaries = [summary for _, summary in done]
        typer.echo(json.dumps(summaries if several else summaries[0], indent=2))
    else:
        typer.echo("\n\n".join(_table(res, summary["circuit"], summary) for res, summary in done))


def _ablate_one(
    run: Path, *, out: Path | None, circuit: str, step: int | None, method: str, site: str, seed: int
) -> tuple[Any, dict[str, Any]]:
    """Ablate one run folder and write its report; returns the result and its summary."""
    from grokscope.analysis.report_page import check_report_folder
    from grokscope.store.run import Run

    handle = Run(run)
    if out is None:  # refused before the work, not after it
        check_report_folder(run)
    if step is not None and step not in handle.steps:
        steps = handle.steps
        shown = ", ".join(map(str, steps[:8])) + (f", ... {steps[-1]}" if len(steps) > 8 else "")
        raise ValueError(f"no checkpoint at step {step} in {handle.name}; steps present: {shown or 'none'}")

    from grokscope.analysis.ablation.over_checkpoints import ablate_run
    from grokscope.analysis.fourier.pipeline import CACHE_DIR, analyze_fourier

    announce = _Announce(handle)
    with speed_settings():
        fa = analyze_fourier(handle, progress=announce)
    if not fa.cached:
        info(
            f"Fourier analysis of {handle.name} done in {fa.elapsed_s:.1f} s (key frequencies "
            f"{', '.join(map(str, fa.key_frequencies)) or 'none'})"
        )
    warn_skipped(handle.name, fa.skipped)
    with speed_settings():
        res = ablate_run(handle, fourier=fa, step=step, site=site, method=method, seed=seed)

    from grokscope.analysis.ablation.report import report_file_name, write_ablation_report

    target = out if out is not None else handle.path / CACHE_DIR / report_file_name(circuit)
    try:
        report = write_ablation_report(res, target, circuit, inside=None if out is not None else handle.path)
    except OSError as e:
        hint = "choose a writable --out" if out is not None else "pass --out FILE"
        raise ValueError(f"cannot write the report to {target} ({e.strerror}): {hint}") from e
    return res, res.summary(circuit) | {"report": str(report)}


class _Announce:
    """Progress callback of the Fourier analysis: says once, on stderr, that it is being computed."""

    def __init__(self, run: Any) -> None:
        self.run, self.said = run, False

    def __call__(self, done: int, total: int) -> None:
        if not self.said:
            self.said = True
            info(
                f"{self.run.name} has no current Fourier analysis: computing it first (cached in "
                f"{self.run.path / 'analysis'})"
            )


def _g(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def _table(res: Any, circuit: str, s: dict[str, Any]) -> str:
    from grokscope.analysis.ablation.report import crossing_sentence, key_steps

    removed = s["removes"].removeprefix("the ")
    lines = [
        f"{res.run}  ({res.task}, {len(res.table)} checkpoint(s), site {res.site}, method {res.method})",
        s["definition"],
        "phases (Fourier analysis): " + ", ".join(f"{ph.name} {ph.start}-{ph.end}" for ph in res.phases),
        "",
        f"{'step':>7}  {'as trained':^31} | {removed + ' removed':^31} | {'share gen':>9} {'share mem':>9}  what happens",
        f"{'':>7}  {'train acc':>9} {'test acc':>9} {'train loss':>11} | {'train acc':>9} {'test acc':>9} "
        f"{'train loss':>11} |",
    ]
    rows = {c["step"]: c for c in s["checkpoints"]}
    for step, label in key_steps(res):  # the label last: several events at one step make it long
        c = rows[step]
        f, a = c["full"], c["ablated"]
        lines.append(
            f"{step:>7}  {_g(f['train_acc']):>9} {_g(f['test_acc']):>9} {_g(f['train_loss']):>11} | "
            f"{_g(a['train_acc']):>9} {_g(a['test_acc']):>9} {_g(a['train_loss']):>11} | "
            f"{_g(c['share_generalizing']):>9} {_g(c['share_memorizing']):>9}  {label}"
        )
    if len(res.table) > 1:
        lines += ["", crossing_sentence(res.crossings())]
    imp = s["frequency_importance"]
    lines += [
        "",
        f"each key frequency removed alone at step {imp['step']} (loss over all pairs; as trained "
        f"{_g(imp['base']['loss'])}):",
    ]
    for f in imp["frequencies"]:
        lines.append(
            f"  k={f['freq']:<4} loss {_g(f['loss']):>9}  (+{_g(f['loss_increase'])})  "
            f"train acc {f['train_acc']:.3f}  test acc {f['test_acc']:.3f}"
        )
    lines += ["", f"report: {s['report']}"]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
