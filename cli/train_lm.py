"""``grokscope train --task arith|capitals|joint[-clean]``: the character-level language-model path.

``cli/train.py`` hands over here when the task is a character-level one (or ``--resume`` names
such a run), so that file keeps the modular options and this one the nanoGPT ones.
"""

import json
from pathlib import Path
from typing import Any

from grokscope.cli.errors import info


def is_lm_request(task: str | None, resume: Path | None) -> bool:
    from grokscope.tasks import is_char_task_name

    if task is not None:
        return is_char_task_name(task)
    if resume is not None:
        try:
            return json.loads((Path(resume) / "run.json").read_text())["config"].get("trainer") == "lm"
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
    return False


def train_lm_cmd(*, task: str | None, preset: str | None, seed: int | None, steps: int | None, lr: float | None,
                 weight_decay: float | None, batch_size: int | None, eval_every: int | None,
                 ckpt_every: int | None, out: Path, name: str | None, resume: Path | None, device: str,
                 quiet: bool, block_size: int | None, dropout: float | None, facts_file: Path | None,
                 modular_only: dict[str, Any], word_ops: dict[str, Any] | None = None,
                 init_from: Path | None = None, warmup: int | None = None, min_lr: float | None = None) -> None:
    given_modular = [k for k, v in modular_only.items() if v is not None]
    if given_modular:
        raise ValueError(f"--{given_modular[0].replace('_', '-')} applies to mod<p> tasks only, not to "
                         f"character-level task {task or resume}")
    from grokscope.config.lm import LMRunConfig, LMTrainConfig, default_preset, default_train

    from grokscope.cli.train_word_ops import init_from_state, word_ops_kwargs

    wo_kwargs = word_ops_kwargs(task, word_ops or {})
    if resume is not None and (wo_kwargs or init_from is not None):
        raise ValueError(f"--resume {resume} continues a run as it was: drop the task options and --init-from")
    if resume is not None:
        from grokscope.store.run import Run
        from grokscope.training.lm import resume_lm

        run = Run(resume)
        asked = {"preset": preset, "seed": seed, "lr": lr, "min_lr": min_lr, "warmup": warmup,
                 "weight_decay": weight_decay, "batch_size": batch_size, "dropout": dropout,
                 "eval_every": eval_every, "ckpt_every": ckpt_every, "block_size": block_size}
        have = {"preset": run.config.preset, "seed": run.config.seed, "block_size": run.task.block_size,
                **{k: getattr(run.config.train, k) for k in ("lr", "min_lr", "warmup", "weight_decay", "batch_size",
                                                              "dropout", "eval_every", "ckpt_every")}}
        for k, v in asked.items():
            if v is not None and v != have[k]:
                raise ValueError(f"--resume {resume}: run has {k}={have[k]!r} but you asked for {v!r}; "
                                 "drop the flag or start a new run with --name")
        _report(resume_lm(resume, steps=steps, device=device, progress=not quiet))
        return

    from grokscope.tasks import get_char_task

    task_kwargs: dict[str, Any] = {}
    if block_size is not None:
        task_kwargs["block_size"] = block_size
    if facts_file is not None:
        if task.partition("-")[0] == "arith":
            raise ValueError("--facts-file applies to the capitals and joint tasks only")
        task_kwargs["facts_file"] = str(facts_file)
    if task.partition("-")[0] == "wordops" and block_size is not None:
        raise ValueError("--block-size does not apply to wordops: its block is the longest line")
    t = get_char_task(task, **(task_kwargs | wo_kwargs))
    init_state = None
    if init_from is not None:
        preset, init_state = init_from_state(init_from, preset, t)
    preset = preset or default_preset(task)
    given = {"lr": lr, "min_lr": min_lr, "warmup": warmup, "weight_decay": weight_decay, "batch_size": batch_size,
             "eval_every": eval_every, "ckpt_every": ckpt_every, "dropout": dropout}
    train_kwargs = default_train(task, preset, steps=steps) | {k: v for k, v in given.items() if v is not None}
    if lr is not None and min_lr is None and train_kwargs["min_lr"] > lr:
        train_kwargs["min_lr"] = lr / 100
    config = LMRunConfig(task=t, preset=preset, seed=1337 if seed is None else seed,
                         train=LMTrainConfig(**train_kwargs))
    from grokscope.training.lm import train_lm

    _report(train_lm(config, out, name=name, device=device, progress=not quiet, init_state=init_state))


def _report(run: Any) -> None:
    rows = run.metrics_rows()
    last = rows[-1] if rows else {}
    best = run.best_step
    best_row = next((r for r in rows if r["step"] == best), {})
    line = (f"{run.path}: {last.get('step')} steps, {len(run.steps)} checkpoints; final val loss "
            f"{last.get('val_loss', float('nan')):.4f}")
    if "score" in last:  # tasks without a combined score (wordops) keep no best checkpoint
        line += f", score {last['score']:.4f}; best score {best_row.get('score', float('nan')):.4f} at step {best}"
    info(line)
