"""``grokscope analyze behavior RUN``: what the answers get right over training, beyond exact match.

At every scored checkpoint the run's model answers a fixed set of questions greedily (per
operation, from the training and the test split); each answer gets exact match, digit accuracy by
place value, relative error, sign, order of magnitude, termination, decimal-aware match and
operation consistency, next to the train/validation loss. ``--json`` prints the summary (every
checkpoint's scores per split and operation, the chance baseline, the "exact match near zero,
structure above chance" period); the HTML report goes to ``<run>/analysis/behavior.html`` unless
``--out`` names a file.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grokscope.runtime import speed_settings

from .errors import user_errors
from .progress import CheckpointBar

Opt = typer.Option
REPORT = Path("analysis") / "behavior.html"


def behavior_cmd(
    run: Annotated[Path, typer.Argument(help="a character-level run folder (wordops, arith, capitals, joint)")],
    as_json: Annotated[bool, Opt("--json", help="print the summary as JSON instead of a table")] = False,
    out: Annotated[Optional[Path], Opt(help="HTML report file (default: <run>/analysis/behavior.html)")] = None,
    per_group: Annotated[int, Opt(help="questions per operation and split")] = 50,
    checkpoints: Annotated[int, Opt(help="most checkpoints scored (evenly spread); 0 = all")] = 60,
    ops: Annotated[Optional[str], Opt(help="only these operations/groups, comma-separated (e.g. SUM,DIVIDE)")] = None,
    places: Annotated[int, Opt(help="k of the decimal-aware match (right to k decimals)")] = 2,
    task: Annotated[
        Optional[str],
        Opt(help="ask another task's questions (e.g. wordops); the run's vocabulary must hold their characters"),
    ] = None,
    seed: Annotated[int, Opt(help="which questions are drawn")] = 0,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Exact match vs digit accuracy, magnitude, sign, termination and operation over training, with a report."""
    with user_errors():
        from grokscope.analysis.behavior.over_checkpoints import BehaviorConfig, analyze_behavior
        from grokscope.store.run import Run

        config = BehaviorConfig(
            per_group=per_group,
            max_checkpoints=checkpoints or None,
            places=places,
            seed=seed,
            groups=tuple(o.strip() for o in ops.split(",") if o.strip()) if ops else None,
        )
        if out is not None and out.is_dir():
            raise ValueError(f"--out {out} is a folder: give a file name such as {out / 'behavior.html'}")
        r = Run(run)
        asked = None
        if task is not None:
            from grokscope.tasks import get_task

            asked = get_task(task)
        bar = None if quiet or as_json else CheckpointBar(r.name)
        try:
            with speed_settings():
                ba = analyze_behavior(r, config=config, task=asked, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        summary = ba.summary()
        summary["report"] = str(_write(ba, out, r.path))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(table(summary))


def _write(ba: Any, out: Path | None, run_path: Path) -> Path:
    from grokscope.analysis.behavior.report import write_report

    target = out if out is not None else run_path / REPORT
    try:
        return write_report(ba, target, inside=None if out is not None else run_path)
    except OSError as e:
        hint = "choose a writable --out" if out is not None else "pass --out FILE"
        raise ValueError(f"cannot write the report to {target} ({e.strerror}): {hint}") from e


def _f(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{x:.1%}" if pct else f"{x:.3g}"


def table(s: dict[str, Any]) -> str:
    """The summary as a few readable lines: the last checkpoint per operation, chance, the gap."""
    from grokscope.analysis.behavior.report import gap_sentence

    f = s["final"]
    split = "test" if "test" in s["splits"] else s["splits"][0]
    lines = [
        f"{s['run']}  ({s['task']}, {s['preset']}, {s['checkpoints']} checkpoints scored, steps "
        f"{s['first_step']}-{s['last_step']})",
        f"last checkpoint (step {f['step']}): train loss {_f(f['train_loss'], False)}, val loss "
        f"{_f(f['val_loss'], False)}; {split} questions:",
        "",
    ]
    cols = [
        ("exact", "exact"),
        ("digit_accuracy", "digits"),
        ("magnitude_correct", "magnitude"),
        ("sign_correct", "sign"),
        ("operation_consistent", "right op"),
        ("stopped_right", "stops right"),
        ("relative_error", "med rel err"),
    ]
    lines.append(f"{'group':<10}" + "".join(f"{h:>13}" for _, h in cols))
    for g, m in f[split].items():
        chance = s["chance"].get(split, {}).get(g, {})
        lines.append(f"{g:<10}" + "".join(f"{_f(m[k], k != 'relative_error'):>13}" for k, _ in cols))
        lines.append(f"{'  chance':<10}" + "".join(f"{_f(chance.get(k), k != 'relative_error'):>13}" for k, _ in cols))
    lines.append("")
    lines += [gap_sentence(gap, "all operations" if g == "all" else g) for g, gap in s["gaps"].items()]
    if s["final_failures"]:
        lines += [
            "",
            "failures at the last checkpoint: "
            + ", ".join(f"{k} {v:.0%}" for k, v in sorted(s["final_failures"].items(), key=lambda kv: -kv[1])),
        ]
    if s["skipped"]:
        lines.append(f"skipped {len(s['skipped'])} unreadable checkpoint(s)")
    lines += ["", f"report: {s['report']}"]
    return "\n".join(lines)
