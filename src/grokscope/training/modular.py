"""The grokking trainer's step loop (modular arithmetic, inputs ``[a, b, =]``): called by ``train.py``.

A step ``t`` means the state after ``t`` optimizer updates. At each step the loop computes the
training loss of that state (cross-entropy on the final position, exact for tiny losses: see
``numerics/cross_entropy.py``), evaluates the test set every ``eval_every`` steps, checkpoints
on the schedule, and then takes the update. Everything the next update depends on (parameters,
AdamW moments, sampler state) is in the checkpoint and resume files, so a resumed run continues
bit-identically on the same device.

The forward is the fastest that computes this model exactly (``models/grok1l/paths.py``):
``"fused"`` on CPU (numba kernels and a hand-written backward), ``"final_position"`` elsewhere,
``HookedTransformer`` (``"hooked"``) for any other preset or with ``fast=False``. Which one
trained the run is recorded in ``run.json`` as ``forward``.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, NamedTuple

import torch

from grokscope.config.modular import RunConfig
from grokscope.models.build import functional_logits
from grokscope.models.grok1l.backward import fused_loss_and_grad
from grokscope.models.grok1l.final_position import final_position_logits
from grokscope.models.grok1l.fused import OperandBatch, fused_final_logits
from grokscope.models.grok1l.params import Grok1LParams
from grokscope.models.grok1l.paths import choose_path
from grokscope.models.presets import model_kwargs
from grokscope.models.state import initial_state
from grokscope.numerics.cross_entropy import cross_entropy
from grokscope.runtime import flush_denormals
from grokscope.store.writer import RunWriter
from grokscope.training.callbacks import Callback
from grokscope.training.schedule import is_checkpoint_step


class _Split(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor
    y: torch.Tensor
    tokens: torch.Tensor
    operands: OperandBatch | None  # for the fused CPU kernels


def train_steps(config: RunConfig, writer: RunWriter, device: str, callbacks: Sequence[Callback]) -> None:
    """Train ``config`` from the writer's starting point to the run's end, writing as it goes."""
    tc, task = config.train, config.task
    data = task.dataset()
    path = choose_path(model_kwargs(config.preset, task), device=device, fast=tc.fast)
    # The parameters are a state dict in the checkpoint format; the fast paths need nothing else
    # (no TransformerLens import: seconds of start-up), HookedTransformer runs on them.
    params = {
        k: torch.nn.Parameter(v.to(device)) for k, v in initial_state(config.preset, task, seed=config.seed).items()
    }
    model = None
    if path == "hooked":
        from grokscope.models.build import build_model

        model = build_model(config.preset, task, seed=config.seed, device=device)
    w = Grok1LParams.from_state(params) if path != "hooked" else None
    writer.info["forward"] = path
    # fused: one kernel for all 16 tensors instead of a Python loop over them (bit-deterministic too).
    opt = torch.optim.AdamW(
        params.values(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(tc.beta1, tc.beta2), fused=True
    )
    sampler = torch.Generator().manual_seed(config.seed)

    def split(idx: torch.Tensor) -> _Split:
        a, b, y, tokens = (t.to(device) for t in (data.a[idx], data.b[idx], data.labels[idx], data.tokens()[idx]))
        return _Split(a, b, y, tokens, OperandBatch(a, b, task.p) if path == "fused" else None)

    train_set, test_set = split(data.train_idx), split(data.test_idx)

    def logits_of(batch: _Split) -> torch.Tensor:
        if path == "fused":
            assert w is not None and batch.operands is not None  # both made for the fast paths
            return fused_final_logits(w, batch.operands, task.eq_token)
        if path == "final_position":
            assert w is not None
            return final_position_logits(w, batch.a, batch.b, task.eq_token)
        return functional_logits(model, params, batch.tokens)[:, -1]

    def restore(extra: dict[str, torch.Tensor]) -> None:
        if "sampler" in extra:
            sampler.set_state(extra["sampler"])

    _, rows = writer.begin(params, opt, restore)  # the saved state is applied by restore()
    step = writer.start_step
    grok_step = next((r["step"] for r in rows if (r.get("test_acc") or 0) >= tc.grok_threshold), None)
    elapsed0 = (rows[-1].get("elapsed_s") or 0.0) if rows else 0.0
    t0 = time.perf_counter()

    # Tiny losses make denormal floats, which make a late step 2x slower on CPU.
    with flush_denormals() if device == "cpu" else nullcontext():
        while True:
            batch = train_set
            if tc.batch_size is not None:
                pick = torch.randperm(len(train_set.a), generator=sampler)[: tc.batch_size].to(device)
                batch = split(data.train_idx[pick.cpu()])
            if path == "fused":  # loss and gradients in one pass, the backward written out (CPU)
                assert w is not None and batch.operands is not None
                loss, logits = fused_loss_and_grad(w, batch.operands, batch.y, task.eq_token)
            else:
                logits = logits_of(batch)
                loss = cross_entropy(logits, batch.y)
            lr = tc.lr * min(step / tc.warmup, 1.0) if tc.warmup else tc.lr

            done = step >= tc.steps or (
                grok_step is not None and tc.stop_after_grok is not None and step >= grok_step + tc.stop_after_grok
            )
            if step % tc.eval_every == 0 or done or is_checkpoint_step(step, tc.ckpt_every):
                row = _evaluate(
                    step, loss, logits, batch.y, test_set, logits_of, params, lr, elapsed0 + time.perf_counter() - t0
                )
                writer.log(row)
                if grok_step is None and row["test_acc"] >= tc.grok_threshold:
                    grok_step = step
                    done = done or (tc.stop_after_grok == 0)
                # Until the run groks, stop_after_grok may still end it before "total".
                end_known = grok_step is not None or tc.stop_after_grok is None
                for cb in callbacks:
                    cb({**row, "total": _end_step(tc, grok_step), "end_known": end_known, "grok_step": grok_step})
            if is_checkpoint_step(step, tc.ckpt_every) or done:
                writer.checkpoint(step, params, opt, {"sampler": sampler.get_state()})
            if done:
                break

            if path != "fused":
                opt.zero_grad(set_to_none=True)
                loss.backward()
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            step += 1
    writer.finish(final_step=step, grok_step=grok_step)


def _end_step(tc: Any, grok_step: int | None) -> int:
    """Where the run is now expected to stop: ``steps``, or ``stop_after_grok`` steps after grokking."""
    if grok_step is None or tc.stop_after_grok is None:
        return tc.steps
    return min(tc.steps, grok_step + tc.stop_after_grok)


@torch.no_grad()
def _evaluate(
    step: int,
    loss: torch.Tensor,
    logits: torch.Tensor,
    y: torch.Tensor,
    test_set: _Split,
    logits_of: Callable[[_Split], torch.Tensor],
    params: Mapping[str, torch.Tensor],
    lr: float,
    elapsed: float,
) -> dict[str, Any]:
    test_logits = logits_of(test_set)
    y_test = test_set.y
    return {
        "step": step,
        "train_loss": loss.item(),
        "test_loss": cross_entropy(test_logits, y_test).item(),
        "train_acc": (logits.argmax(-1) == y).double().mean().item(),
        "test_acc": (test_logits.argmax(-1) == y_test).double().mean().item(),
        "lr": lr,
        "sq_weights": float(sum(p.double().square().sum() for p in params.values())),
        "elapsed_s": round(elapsed, 3),
    }


__all__ = ["train_steps"]
