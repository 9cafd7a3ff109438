"""``grokscope train``: train a run with dense checkpoints, or resume one."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grokscope.runtime import speed_settings

from .errors import exits_on_user_error, info

app = typer.Typer()

Opt = typer.Option


@app.command("train")
@exits_on_user_error
def train_cmd(
    task: Annotated[
        Optional[str],
        Opt(
            help="mod<p> (a+b mod p), e.g. mod97 or mod113; mod<p>-<op> for another op; "
            "or arith, capitals, joint, wordops (character level)"
        ),
    ] = None,
    op: Annotated[Optional[str], Opt(help="add, sub, mul, div, x2y2, x2xyy2, x3xy")] = None,
    seed: Annotated[Optional[int], Opt(help="seed of the split and the init")] = None,
    frac: Annotated[Optional[float], Opt(help="fraction of pairs used for training")] = None,
    preset: Annotated[Optional[str], Opt(help="model preset (grokscope models)")] = None,
    steps: Annotated[Optional[int], Opt(help="most steps to train")] = None,
    stop_after_grok: Annotated[
        Optional[int], Opt(help="stop this many steps after test accuracy >= 99%; -1 never")
    ] = None,
    lr: Annotated[Optional[float], Opt()] = None,
    weight_decay: Annotated[Optional[float], Opt("--wd", help="AdamW weight decay")] = None,
    batch_size: Annotated[Optional[int], Opt(help="mini-batch size (default: full batch)")] = None,
    eval_every: Annotated[Optional[int], Opt(help="test-set evaluation interval in steps")] = None,
    ckpt_every: Annotated[Optional[int], Opt(help="checkpoint interval after the dense early ones")] = None,
    out: Annotated[Path, Opt(help="folder that holds runs")] = Path("checkpoints"),
    name: Annotated[Optional[str], Opt(help="run folder name (default from task, preset, frac, seed)")] = None,
    resume: Annotated[Optional[Path], Opt(help="continue this run folder from its last checkpoint")] = None,
    device: Annotated[str, Opt(help="auto, cpu or cuda")] = "auto",
    quiet: Annotated[bool, Opt("--quiet", "-q", help="no progress bar")] = False,
    block_size: Annotated[Optional[int], Opt(help="character tasks: context length (default: the task's)")] = None,
    dropout: Annotated[Optional[float], Opt(help="character tasks: dropout (nanoGPT's places)")] = None,
    warmup: Annotated[
        Optional[int], Opt(help="character tasks: warm-up steps (default: the task's schedule, scaled to --steps)")
    ] = None,
    min_lr: Annotated[Optional[float], Opt(help="character tasks: lr at the end of the cosine decay")] = None,
    facts_file: Annotated[Optional[Path], Opt(help="capitals/joint: 'Capital of X is Y' lines")] = None,
    ops: Annotated[Optional[str], Opt(help="wordops: operations, e.g. SUM,SUBTRACT,MULTIPLY,DIVIDE")] = None,
    operands: Annotated[Optional[str], Opt(help="wordops: operand range LOW..HIGH (default 0..999)")] = None,
    decimals: Annotated[Optional[int], Opt(help="wordops: DIVIDE answer decimals, truncated (default 4)")] = None,
    n_train: Annotated[Optional[int], Opt(help="wordops: training problems (default 10000)")] = None,
    n_test: Annotated[Optional[int], Opt(help="wordops: test problems (default 1000)")] = None,
    init_from: Annotated[
        Optional[Path],
        Opt(
            help="character tasks: start from this TransformerLens model folder "
            "(config.json + .safetensors) instead of a random init"
        ),
    ] = None,
) -> None:
    """Train until the model groks, writing dense checkpoints to OUT/NAME.

    Character-level tasks (arith, capitals, joint; -clean for the clean evaluation) train a
    nanoGPT-style language model instead, with the paper's settings by default; wordops trains the
    blog setting's 2-layer model (lr 1e-3, 3,000 steps). --steps scales the warm-up and decay.
    """
    task_options = {
        "op": op,
        "frac": frac,
        "block_size": block_size,
        "facts_file": facts_file,
        "ops": ops,
        "operands": operands,
        "decimals": decimals,
        "n_train": n_train,
        "n_test": n_test,
    }
    train_options = {
        "steps": steps,
        "lr": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "eval_every": eval_every,
        "ckpt_every": ckpt_every,
        "dropout": dropout,
        "warmup": warmup,
        "min_lr": min_lr,
    }
    if stop_after_grok is not None:
        train_options["stop_after_grok"] = None if stop_after_grok == -1 else stop_after_grok
    callbacks = [] if quiet else [_bar()]
    if resume is not None:
        with _bars_closed(callbacks):
            _resume(
                resume,
                task=task,
                seed=seed,
                preset=preset,
                task_options=task_options,
                train_options=train_options,
                init_from=init_from,
                device=device,
                callbacks=callbacks,
            )
        return
    from grokscope.config import config_from_options

    given = {k: v for k, v in (task_options | train_options).items() if v is not None or k == "stop_after_grok"}
    config, init_state = config_from_options(task or "mod97", preset=preset, seed=seed, init_from=init_from, **given)
    _check_writable(out)
    from grokscope.training.train import train

    with speed_settings(), _bars_closed(callbacks):
        run = train(config, out, name=name, device=device, callbacks=callbacks, init_state=init_state)
    _report(run)


def _resume(
    path: Path,
    *,
    task: str | None,
    seed: int | None,
    preset: str | None,
    task_options: dict[str, Any],
    train_options: dict[str, Any],
    init_from: Path | None,
    device: str,
    callbacks: list[Any],
) -> None:
    """``--resume``: the flags given must agree with the run (checked by the library, before any write)."""
    from grokscope.tasks import ModularTask, make_task

    wordops = {k: task_options[k] for k in ("ops", "operands", "decimals", "n_train", "n_test")}
    if any(v is not None for v in wordops.values()) or init_from is not None:
        raise ValueError(f"--resume {path} continues a run as it was: drop the task options and --init-from")
    expect: dict[str, Any] = {
        "seed": seed,
        "preset": preset,
        "task.frac": task_options["frac"],
        "task.op": task_options["op"],
        "task.block_size": task_options["block_size"],
    }
    if task is not None:
        t = make_task(task, op=task_options["op"])
        kind = t.to_dict()["kind"]
        expect |= {"task.kind": kind} | (
            {"task.p": t.p, "task.op": t.op} if isinstance(t, ModularTask) else {"task.name": t.name}
        )
    endpoint = {k: train_options.pop(k) for k in ("steps", "stop_after_grok") if k in train_options}
    expect |= {f"train.{k}": v for k, v in train_options.items()}
    from grokscope.training.train import KEEP, resume

    _say_if_nothing_to_train(path, endpoint.get("steps"), endpoint.get("stop_after_grok", KEEP))

    with speed_settings():
        _report(
            resume(
                path,
                steps=endpoint.get("steps"),
                stop_after_grok=endpoint.get("stop_after_grok", KEEP),
                device=device,
                callbacks=callbacks,
                expect={k: v for k, v in expect.items() if v is not None},
            )
        )


def _say_if_nothing_to_train(path: Path, steps: int | None, stop_after_grok: Any) -> None:
    """A grokked run that already stopped ``stop_after_grok`` steps after grokking trains nothing more
    however large ``--steps`` is: say so, and which flag moves that end."""
    from grokscope.config import RunConfig
    from grokscope.store.run import Run
    from grokscope.training.train import KEEP

    try:
        run = Run(path)
        if not isinstance(run.config, RunConfig):  # a language-model run (run.is_lm)
            return
        after = run.config.train.stop_after_grok if stop_after_grok == KEEP else stop_after_grok
        grok, last = run.grok_step, run.metrics_rows()[-1]["step"]
    except (ValueError, OSError, IndexError, KeyError):
        return  # the resume itself reports what is wrong
    target = steps if steps is not None else run.config.train.steps
    if grok is not None and after is not None and grok + after <= last < target:
        info(
            f"note: nothing to train: {run.name} stops {after:,} steps after test accuracy reached 99% (step "
            f"{grok:,}) and is at step {last:,}; add --stop-after-grok -1 to train on to step {target:,}"
        )


def _check_writable(out: Path) -> None:
    from grokscope.store.folder import check_name_lengths

    check_name_lengths(out)
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to {out}: choose a writable --out")


@contextmanager
def _bars_closed(bars: list[Any]) -> Iterator[None]:
    """Training that stops early (an error, Ctrl-C) ends its bar's line before the message that follows."""
    try:
        yield
    finally:
        for bar in bars:
            bar.close()


def _bar() -> Any:
    from grokscope.training.callbacks import ProgressBar

    return ProgressBar()


def _report(run: Any) -> None:
    rows = run.metrics_rows()
    last = rows[-1] if rows else {}
    if not run.is_lm:
        s = run.summary()
        test_99 = "not reached" if s["test_99"] is None else f"at step {s['test_99']}"
        train_99 = "not reached" if s["train_99"] is None else f"at step {s['train_99']}"
        info(
            f"{run.path}: {s['steps']} steps, {s['checkpoints']} checkpoints; train acc 99% {train_99}, "
            f"test acc 99% {test_99} (final test acc {s['test_acc']:.4f})"
        )
        return
    best = run.best_step
    best_row: dict[str, Any] = next((r for r in rows if r["step"] == best), {})
    line = (
        f"{run.path}: {last.get('step')} steps, {len(run.steps)} checkpoints; final val loss "
        f"{last.get('val_loss', float('nan')):.4f}"
    )
    if "score" in last:  # tasks without a combined score (wordops) keep no best checkpoint
        line += f", score {last['score']:.4f}; best score {best_row.get('score', float('nan')):.4f} at step {best}"
    info(line)
