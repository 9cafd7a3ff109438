"""``grokscope runs`` and ``grokscope models``: what is on disk, what can be built."""

from pathlib import Path
from typing import Annotated

import typer

from .errors import exits_on_user_error, info

app = typer.Typer()


@app.command("runs")
@exits_on_user_error
def runs_cmd(folder: Annotated[Path, typer.Argument(help="folder of runs")] = Path("checkpoints")) -> None:
    """List runs under FOLDER: task, steps, when train and test accuracy reached 99%."""
    from grokscope.store.run import Run, run_folders

    paths = run_folders(folder)
    sweeps = _sweep_folders(folder)
    for sweep in sweeps:  # their runs are listed by grokscope runs SWEEP
        info(f"sweep {sweep}: grokscope sweep status {sweep}, grokscope runs {sweep}")
    if not paths:
        if sweeps:
            return
        raise ValueError(f"no runs in {folder}: train one with grokscope train --out {folder}")
    header = (
        f"{'run':<28} {'task':<10} {'preset':<8} {'steps':>7} {'ckpts':>5} {'train99':>8} {'test99':>8} {'test_acc':>8}"
    )
    typer.echo(header)
    for path in paths:
        try:  # one damaged run is reported and the others are listed
            s = Run(path).summary()
        except ValueError as e:
            info(f"warning: {path.name} not listed: {str(e).splitlines()[0]}")
            continue
        acc = "-" if s["test_acc"] is None else f"{s['test_acc']:.4f}"
        typer.echo(
            f"{s['run']:<28} {s['task']:<10} {s['preset']:<8} {_d(s['steps']):>7} {s['checkpoints']:>5} "
            f"{_d(s['train_99']):>8} {_d(s['test_99']):>8} {acc:>8}"
        )


def _sweep_folders(folder: Path) -> list[Path]:
    from grokscope.sweeps.record import is_sweep_dir

    if not folder.is_dir() or is_sweep_dir(folder):
        return []
    return [p for p in sorted(folder.iterdir()) if not p.is_symlink() and p.is_dir() and is_sweep_dir(p)]


def _d(x: object) -> str:
    return "-" if x is None else str(x)


@app.command("models")
def models_cmd(task: Annotated[str, typer.Option(help="task that sizes the vocabulary")] = "mod97") -> None:
    """List model presets with their parameter counts (TransformerLens and, where it applies, nanoGPT convention)."""
    from .errors import user_errors

    with user_errors():
        from grokscope.models.counts import count_params, count_params_nanogpt
        from grokscope.models.presets import NANOGPT_PRESETS, PRESET_NOTES, PRESETS
        from grokscope.tasks import get_task

        t = get_task(task)
        # Two conventions: every HookedTransformer tensor, and nanoGPT's count (no biases, tied W_U
        # once, no position embeddings) that "Too Big to Think" reports, for the nanoGPT-style presets.
        typer.echo(f"{'preset':<8} {'params':>11} {'nanoGPT':>11}  description (vocabulary of {t.name})")
        for name in PRESETS:
            nano = f"{count_params_nanogpt(name, t):,}" if name in NANOGPT_PRESETS else "-"
            typer.echo(f"{name:<8} {count_params(name, t):>11,} {nano:>11}  {PRESET_NOTES[name]}")
