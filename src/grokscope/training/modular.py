"""The trainer: one ``train()`` that reads top to bottom, and ``resume()``.

A step ``t`` means the state after ``t`` optimizer updates. At each step the loop computes the
training loss of that state (cross-entropy on the final position, exact for tiny losses: see
``loss.py``), evaluates the test set every ``eval_every`` steps, checkpoints on the schedule,
and then takes the update.
Everything the next update depends on (parameters, AdamW moments, sampler state) is in the
checkpoint and resume files, so a resumed run continues bit-identically on the same device.
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import torch

from grokscope.memory import reuse_freed_memory
from grokscope.models.build import build_model, fused_preset, initial_params
from grokscope.models.grok1l.fused import (OperandBatch, final_position_logits, fused_available, fused_final_logits,
                                  supports_fast_path)
from grokscope.store.files import write_json_atomic
from grokscope.store.run import (MANIFEST_FILE, METRICS_FILE, RUN_FILE, NotARunError, Run, is_run_dir, read_metrics,
                                 read_run_info, run_info)
from grokscope.config.modular import RunConfig
from grokscope.models.grok1l.backward import fused_loss_and_grad
from grokscope.config.lm import LMRunConfig
from grokscope.numerics.cross_entropy import cross_entropy
from grokscope.training.schedule import is_checkpoint_step
from grokscope.store.checkpoint import load_checkpoint, rewrite_metrics, save_checkpoint


class _Split(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor
    y: torch.Tensor
    tokens: torch.Tensor
    operands: OperandBatch | None  # for the fused CPU kernels


Callback = Callable[[dict[str, Any]], None]
"""Called with every metrics row (plus ``"total"``: the step budget); e.g. a progress bar."""


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA GPU: use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
    return device


def prepare_run_dir(config: RunConfig | LMRunConfig, out: str | Path, name: str | None = None) -> tuple[Path, bool]:
    """The run folder for ``config`` and whether it already holds this run (then it is resumed).

    A folder holding a run with a different config is never touched.
    """
    path = Path(out) / (name or config.default_name)
    if is_run_dir(path):
        existing = Run(path).config
        diff = existing.conflicts(config)
        if diff:
            raise ValueError(f"{path} holds a run with another config ({diff[0]}): pass --name for a new run "
                             f"or --resume {path} to continue that one")
        return path, True
    if path.exists() and any(path.iterdir()):
        raise ValueError(f"{path} exists and is not a grokscope run: choose another --out or --name")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"cannot write to {path} ({e.strerror}): choose a writable --out") from e
    return path, False


def train(config: RunConfig, out: str | Path = "checkpoints", *, name: str | None = None, device: str = "auto",
          callbacks: Sequence[Callback] = ()) -> Run:
    """Train ``config`` into ``out/name`` (default name from the config) and return the :class:`Run`.

    If that folder already holds this very run, it is resumed instead of started again.
    """
    path, exists = prepare_run_dir(config, out, name)
    if exists:
        return resume(path, steps=config.train.steps, stop_after_grok=config.train.stop_after_grok,
                      device=device, callbacks=callbacks)
    write_json_atomic(path / RUN_FILE, run_info(config, finished=False))
    return _loop(config, path, resolve_device(device), callbacks, start=None)


def resume(run_dir: str | Path, *, steps: int | None = None, stop_after_grok: int | None | str = "keep",
           device: str = "auto", callbacks: Sequence[Callback] = ()) -> Run:
    """Continue a run from its newest checkpoint; ``steps``/``stop_after_grok`` may move its end."""
    run = Run(run_dir)
    config = run.config
    changes: dict[str, Any] = {}
    if steps is not None:
        changes["steps"] = steps
    if stop_after_grok != "keep":
        changes["stop_after_grok"] = stop_after_grok
    if changes:
        config = replace(config, train=replace(config.train, **changes))
    resume_entry = run.manifest().get("resume")
    if resume_entry is None:
        raise NotARunError(f"{run.path} has no resumable checkpoint yet: start it again with grokscope train")
    write_json_atomic(run.path / RUN_FILE, run_info(config, finished=False, created=run.info.get("created")))
    return _loop(config, run.path, resolve_device(device), callbacks, start=resume_entry)


def _loop(config: RunConfig, path: Path, device: str, callbacks: Sequence[Callback],
          start: dict[str, Any] | None) -> Run:
    tc, task = config.train, config.task
    data = task.dataset()
    # The numba kernels are the same maths with the per-example work fused (CPU only). That step
    # needs only the parameters, so it starts from them without importing TransformerLens (~5 s).
    use_fused = tc.fast and fused_preset(config.preset, task) and fused_available(device)
    if use_fused:
        model = None
        params = {k: torch.nn.Parameter(v) for k, v in initial_params(config.preset, task, seed=config.seed).items()}
    else:
        model = build_model(config.preset, task, seed=config.seed, device=device)
        params = dict(model.named_parameters())
        model.train()
    use_fast = use_fused or (tc.fast and supports_fast_path(model.cfg))
    # fused: one kernel for all 16 tensors instead of a Python loop over them (bit-deterministic too).
    opt = torch.optim.AdamW(params.values(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(tc.beta1, tc.beta2),
                            fused=True)
    sampler = torch.Generator().manual_seed(config.seed)

    def split(idx: torch.Tensor) -> _Split:
        a, b, y, tokens = (t.to(device) for t in (data.a[idx], data.b[idx], data.labels[idx], data.tokens()[idx]))
        return _Split(a, b, y, tokens, OperandBatch(a, b, task.p) if use_fused else None)

    train_set, test_set = split(data.train_idx), split(data.test_idx)

    def logits_of(batch: _Split) -> torch.Tensor:
        if use_fused:
            return fused_final_logits(params, batch.operands, task.eq_token)
        if use_fast:
            return final_position_logits(params, batch.a, batch.b, task.eq_token)
        return model(batch.tokens)[:, -1]

    step, manifest, rows = 0, {"checkpoints": [], "resume": None}, []
    if start is not None:
        step = start["step"]
        manifest = json.loads((path / MANIFEST_FILE).read_text())
        sampler.set_state(load_checkpoint(path, manifest, start, params, opt)["sampler"])
        rows = [r for r in read_metrics(path) if r["step"] < step]
    rewrite_metrics(path, rows)
    grok_step = next((r["step"] for r in rows if r["test_acc"] >= tc.grok_threshold), None)
    elapsed0 = rows[-1]["elapsed_s"] if rows else 0.0
    t0 = time.perf_counter()

    reuse_freed_memory()  # multi-MB temporaries every step: no page faults for each
    flush_denormal = device == "cpu" and torch.set_flush_denormal(True)  # tiny losses make denormals, 2x slower
    try:
        with open(path / METRICS_FILE, "a") as metrics_file:
            while True:
                batch = train_set
                if tc.batch_size is not None:
                    pick = torch.randperm(len(train_set.a), generator=sampler)[: tc.batch_size].to(device)
                    batch = split(data.train_idx[pick.cpu()])
                if use_fused:  # loss and gradients in one pass, the backward written out (CPU)
                    loss, logits = fused_loss_and_grad(params, batch.operands, batch.y, task.eq_token)
                else:
                    logits = logits_of(batch)
                    loss = cross_entropy(logits, batch.y)
                lr = tc.lr * min(step / tc.warmup, 1.0) if tc.warmup else tc.lr

                done = step >= tc.steps or (grok_step is not None and tc.stop_after_grok is not None
                                            and step >= grok_step + tc.stop_after_grok)
                if step % tc.eval_every == 0 or done or is_checkpoint_step(step, tc.ckpt_every):
                    row = _evaluate(step, loss, logits, batch.y, test_set, logits_of, params, lr,
                                    elapsed0 + time.perf_counter() - t0)
                    metrics_file.write(json.dumps(row) + "\n")
                    metrics_file.flush()
                    if grok_step is None and row["test_acc"] >= tc.grok_threshold:
                        grok_step = step
                        done = done or (tc.stop_after_grok == 0)
                    for cb in callbacks:
                        cb({**row, "total": tc.steps, "grok_step": grok_step})
                resumed_here = start is not None and step == start["step"]
                if (is_checkpoint_step(step, tc.ckpt_every) or done) and not resumed_here:
                    manifest = save_checkpoint(path, manifest, step, params, opt, {"sampler": sampler.get_state()})
                if done:
                    break

                if not use_fused:
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                for group in opt.param_groups:
                    group["lr"] = lr
                opt.step()
                step += 1
    finally:
        if flush_denormal:
            torch.set_flush_denormal(False)
    write_json_atomic(path / RUN_FILE, run_info(config, finished=True, created=read_run_info(path).get("created"),
                                                final_step=step, grok_step=grok_step))
    return Run(path)


@torch.no_grad()
def _evaluate(step, loss, logits, y, test_set, logits_of, params, lr, elapsed) -> dict[str, Any]:
    test_logits = logits_of(test_set)
    y_test = test_set.y
    return {
        "step": step,
        "train_loss": loss.item(),
        "test_loss": cross_entropy(test_logits, y_test).item(),
        "train_acc": (logits.argmax(-1) == y).double().mean().item(),
        "test_acc": (test_logits.argmax(-1) == y_test).double().mean().item(),
        "lr": lr,
        "sq_weights": sum(p.double().square().sum() for p in params.values()).item(),
        "elapsed_s": round(elapsed, 3),
    }


__all__ = ["Callback", "prepare_run_dir", "resolve_device", "resume", "train"]
