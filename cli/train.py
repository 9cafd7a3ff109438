"""``grokscope train``: train a run with dense checkpoints, or resume one."""

import os
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from grokscope.cli.errors import exits_on_user_error, info

app = typer.Typer()

Opt = typer.Option


@app.command("train")
@exits_on_user_error
def train_cmd(
    task: Annotated[Optional[str], Opt(help="mod<p> (a+b mod p), e.g. mod97 or mod113; mod<p>-<op> for another op; "
                                            "or arith, capitals, joint, wordops (character level)")] = None,
    op: Annotated[Optional[str], Opt(help="add, sub, mul, div, x2y2, x2xyy2, x3xy")] = None,
    seed: Annotated[Optional[int], Opt(help="seed of the split and the init")] = None,
    frac: Annotated[Optional[float], Opt(help="fraction of pairs used for training")] = None,
    preset: Annotated[Optional[str], Opt(help="model preset (grokscope models)")] = None,
    steps: Annotated[Optional[int], Opt(help="most steps to train")] = None,
    stop_after_grok: Annotated[Optional[int], Opt(help="stop this many steps after test accuracy >= 99%; -1 never")] = None,
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
    warmup: Annotated[Optional[int], Opt(help="character tasks: warm-up steps (default: the task's schedule, "
                                              "scaled to --steps)")] = None,
    min_lr: Annotated[Optional[float], Opt(help="character tasks: lr at the end of the cosine decay")] = None,
    facts_file: Annotated[Optional[Path], Opt(help="capitals/joint: 'Capital of X is Y' lines")] = None,
    ops: Annotated[Optional[str], Opt(help="wordops: operations, e.g. SUM,SUBTRACT,MULTIPLY,DIVIDE")] = None,
    operands: Annotated[Optional[str], Opt(help="wordops: operand range LOW..HIGH (default 0..999)")] = None,
    decimals: Annotated[Optional[int], Opt(help="wordops: DIVIDE answer decimals, truncated (default 4)")] = None,
    n_train: Annotated[Optional[int], Opt(help="wordops: training problems (default 10000)")] = None,
    n_test: Annotated[Optional[int], Opt(help="wordops: test problems (default 1000)")] = None,
    init_from: Annotated[Optional[Path], Opt(help="character tasks: start from this TransformerLens model folder "
                                                  "(config.json + .safetensors) instead of a random init")] = None,
) -> None:
    """Train until the model groks, writing dense checkpoints to OUT/NAME.

    Character-level tasks (arith, capitals, joint; -clean for the clean evaluation) train a
    nanoGPT-style language model instead, with the paper's settings by default; wordops trains the
    blog setting's 2-layer model (lr 1e-3, 3,000 steps). --steps scales the warm-up and decay.
    """
    from grokscope.cli.train_lm import is_lm_request, train_lm_cmd

    if is_lm_request(task, resume):
        train_lm_cmd(task=task, preset=preset, seed=seed, steps=steps, lr=lr, weight_decay=weight_decay,
                     batch_size=batch_size, eval_every=eval_every, ckpt_every=ckpt_every, out=out, name=name,
                     resume=resume, device=device, quiet=quiet, block_size=block_size, dropout=dropout,
                     facts_file=facts_file, modular_only={"op": op, "frac": frac, "stop_after_grok": stop_after_grok},
                     word_ops={"ops": ops, "operands": operands, "decimals": decimals, "n_train": n_train,
                               "n_test": n_test}, init_from=init_from, warmup=warmup, min_lr=min_lr)
        return
    for flag, v in (("--block-size", block_size), ("--dropout", dropout), ("--warmup", warmup), ("--min-lr", min_lr),
                    ("--facts-file", facts_file),
                    ("--ops", ops), ("--operands", operands), ("--decimals", decimals), ("--n-train", n_train),
                    ("--n-test", n_test), ("--init-from", init_from)):
        if v is not None:
            raise ValueError(f"{flag} applies to character-level tasks (arith, capitals, joint) only")
    from grokscope.tasks import get_task
    from grokscope.config.modular import RunConfig, TrainConfig

    after = None if stop_after_grok == -1 else stop_after_grok
    train_opts = {"steps": steps, "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size,
                  "eval_every": eval_every, "ckpt_every": ckpt_every}
    given = {k: v for k, v in train_opts.items() if v is not None}
    if stop_after_grok is not None:
        given["stop_after_grok"] = after

    if resume is not None:
        from grokscope.store.run import Run  # imports torch: only once the arguments are known good

        run = Run(resume)  # NotARunError (a ValueError) if it is not one
        asked = {"seed": seed, "preset": preset, "task.frac": frac, "task.op": op}
        if task is not None:
            t = get_task(task, op=op)
            asked |= {"task.p": t.p, "task.op": t.op}
        current = {"seed": run.config.seed, "preset": run.config.preset, "task.frac": run.task.frac,
                   "task.op": run.task.op, "task.p": run.task.p}
        current |= {f.name: getattr(run.config.train, f.name) for f in fields(TrainConfig)}
        asked |= {k: v for k, v in given.items() if k not in ("steps", "stop_after_grok")}
        for k, v in asked.items():
            if v is not None and v != current[k]:
                raise ValueError(f"--resume {resume}: run has {k}={current[k]!r} but you asked for {v!r}; "
                                 "drop the flag or start a new run with --name")
        from grokscope.training.modular import resume as resume_run

        _report(resume_run(resume, steps=steps, stop_after_grok=after if stop_after_grok is not None else "keep",
                           device=device, callbacks=_progress(quiet, run.config.train.steps if steps is None else steps)))
        return

    config = RunConfig(task=get_task(task or "mod97", op=op, frac=0.3 if frac is None else frac,
                                     seed=seed or 0),
                       preset=preset or "grok1l", seed=seed or 0, train=TrainConfig(**given))
    _check_writable(out)
    from grokscope.training.modular import train

    _report(train(config, out, name=name, device=device, callbacks=_progress(quiet, config.train.steps)))


def _check_writable(out: Path) -> None:
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to {out}: choose a writable --out")


def _progress(quiet: bool, total: int) -> list[Any]:
    if quiet:
        return []
    from tqdm import tqdm

    bars: list[Any] = []  # created on the first row, so an early error prints no empty bar

    def update(row: dict[str, Any]) -> None:
        if not bars:
            bars.append(tqdm(total=total, initial=row["step"], unit="step", dynamic_ncols=True, mininterval=0.5))
        bar = bars[0]
        bar.update(row["step"] - bar.n)
        bar.set_postfix_str(f"loss {row['train_loss']:.2e}/{row['test_loss']:.2e} "
                            f"acc {row['train_acc']:.3f}/{row['test_acc']:.3f}", refresh=False)

    return [update]


def _report(run: Any) -> None:
    s = run.summary()
    info(f"{run.path}: {s['steps']} steps, {s['checkpoints']} checkpoints; train acc 99% at step "
         f"{s['train_99']}, test acc 99% at step {s['test_99']} (final test acc {s['test_acc']:.4f})")
