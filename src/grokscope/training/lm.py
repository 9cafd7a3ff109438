"""The character-level trainer's step loop: nanoGPT's ``train.py`` on a ``HookedTransformer`` (called by ``train.py``).

A step ``t`` is the state after ``t`` optimizer updates. At every ``eval_every`` steps (and the
last) the loop estimates train/val loss on fixed batches, runs the task's own ``evaluate`` (its
metrics go into ``metrics.jsonl``), checkpoints on the dense schedule and at every new best task
``score``, then takes the update: a fresh batch of random windows, cross-entropy over every
position, nanoGPT's tied-embedding gradient, clipping at ``grad_clip`` and AdamW with weight
decay on matrices only, at nanoGPT's warm-up + cosine learning rate.

Everything the next update depends on (parameters, AdamW moments, the batch sampler's state and
the global RNG that dropout draws from) is in the checkpoint and resume files; evaluation draws
only from generators seeded by the step. So a resumed run continues bit-identically on the same
device (tested on CPU).

Without dropout the forward runs the same maths in fused PyTorch ops on the model's own
parameters (``models/lm_fast.py``); ``run.json`` records which forward trained the run
(``forward``: ``"fast_ops"`` or ``"hooked"``).
"""

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from grokscope.config.lm import LMRunConfig
from grokscope.models.build import functional_logits, load_state_, model_from_state
from grokscope.models.lm_fast import lm_logits, supports_lm_fast_path
from grokscope.models.nanogpt import (
    add_dropout_hooks,
    freeze_biases_,
    is_tied,
    optimizer_groups,
    sync_tied_,
    tie_grads_,
)
from grokscope.models.presets import NANOGPT_PRESETS
from grokscope.models.state import initial_state
from grokscope.store.run import Run
from grokscope.store.writer import RunWriter
from grokscope.tasks.text import IGNORE
from grokscope.training.callbacks import Callback
from grokscope.training.schedule import cosine_lr, is_checkpoint_step

# Offsets added to the run seed for the generators that must not share a stream.
_VAL_SEED, _EVAL_SEED, _DROPOUT_SEED = 1, 2, 3


def train_steps(
    config: LMRunConfig,
    writer: RunWriter,
    device: str,
    callbacks: Sequence[Callback],
    *,
    init_state: Mapping[str, Tensor] | None = None,
) -> None:
    """Train ``config`` from the writer's starting point to the run's end, writing as it goes.

    ``init_state`` (parameters by TransformerLens name) replaces the initial weights of a new run.
    """
    tc, task = config.train, config.task
    # The parameters are a state dict in the checkpoint format (TransformerLens 3.x names); the
    # model of the installed TransformerLens runs on them (functional_logits) and is refreshed
    # from them before each evaluation, so one loop serves both TransformerLens versions.
    params = {
        k: torch.nn.Parameter(v.to(device)) for k, v in initial_state(config.preset, task, seed=config.seed).items()
    }
    if config.preset in NANOGPT_PRESETS:
        freeze_biases_(params)
    if init_state is not None:
        _load_params(params, init_state)
        writer.info["init_from_state"] = True
    writer.info.setdefault("init_from_state", False)
    tied = config.preset in NANOGPT_PRESETS and is_tied(params)
    if tied:
        sync_tied_(params)
    model = model_from_state(config.preset, task, params, device=device)
    add_dropout_hooks(model, tc.dropout)
    # The same maths in fewer, fused ops on the same parameters (models/lm_fast.py), where it applies.
    fast = tc.fast and supports_lm_fast_path(model.cfg, params, tc.dropout)
    writer.info["forward"] = "fast_ops" if fast else "hooked"

    def forward(x: Tensor) -> Tensor:
        if fast:
            return lm_logits(params, x, n_layers=model.cfg.n_layers, eps=model.cfg.eps)
        return functional_logits(model, params, x)

    opt = torch.optim.AdamW(
        optimizer_groups(params, tc.weight_decay) if tied else [p for p in params.values() if p.requires_grad],
        lr=tc.lr,
        betas=(tc.beta1, tc.beta2),
        weight_decay=tc.weight_decay,
        fused=True,
    )
    sampler = torch.Generator().manual_seed(config.seed)
    rng_devices = [torch.device(device)] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=rng_devices):
        torch.manual_seed(config.seed + _DROPOUT_SEED)  # dropout's stream; never the caller's global RNG
        _, rows = writer.begin(params, opt, lambda extra: _restore_rng(extra, sampler, device) if extra else None)
        step = writer.start_step
        best = max((r["score"] for r in rows if r.get("score") is not None), default=None)
        elapsed0 = (rows[-1].get("elapsed_s") or 0.0) if rows else 0.0
        t0 = time.perf_counter()
        batch = config.batch_size
        while True:
            lr = cosine_lr(step, lr=tc.lr, min_lr=tc.min_lr, warmup=tc.warmup, decay_steps=tc.lr_decay_steps)
            done = step >= tc.steps
            new_best = False
            if step % tc.eval_every == 0 or done:
                row = {"step": step, **_losses(model, forward, task, config, batch, device), "lr": lr}
                load_state_(model, params)  # the model the task's evaluation generates with
                model.eval()
                row |= task.evaluate(model, generator=torch.Generator().manual_seed(config.seed + _EVAL_SEED + step))
                row["elapsed_s"] = round(elapsed0 + time.perf_counter() - t0, 3)
                writer.log(row)
                if "score" in row and (best is None or row["score"] > best):
                    best, new_best = row["score"], tc.keep_best
                for cb in callbacks:
                    cb({**row, "total": tc.steps, "best_score": best})
            if is_checkpoint_step(step, tc.ckpt_every) or done or new_best:
                writer.checkpoint(step, params, opt, _rng_state(sampler, device))
            if done:
                break

            model.train()
            x, y = (t.to(device) for t in task.sample_batch(batch, sampler, split="train"))
            logits = forward(x)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tied:
                tie_grads_(params)
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], tc.grad_clip)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            if tied:
                sync_tied_(params)
            step += 1
    model.eval()
    writer.close()  # the best step is read back from the metrics just written
    writer.finish(final_step=step, best_step=Run(writer.path).best_step, best_score=best)


@torch.no_grad()
def _losses(
    model: Any, forward: Callable[[Tensor], Tensor], task: Any, config: LMRunConfig, batch: int, device: str
) -> dict[str, float]:
    """nanoGPT's ``estimate_loss``: mean loss over ``eval_iters`` batches per split, in eval mode.

    The batches are the same at every evaluation (fixed generators), so the curve is not noisy
    from resampling, and drawing them does not disturb the training sampler.
    """
    model.eval()
    out = {}
    for split, offset in (("train", 0), ("val", _VAL_SEED)):
        gen = torch.Generator().manual_seed(config.seed + 1000 * (offset + 1))
        losses = []
        for _ in range(config.train.eval_iters):
            x, y = (t.to(device) for t in task.sample_batch(batch, gen, split=split))
            logits = forward(x)
            losses.append(F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE).item())
        out[f"{split}_loss"] = sum(losses) / len(losses)
    return out


def _load_params(params: Mapping[str, Tensor], state: Mapping[str, Tensor]) -> None:
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params) - {k for k in state if k.endswith((".mask", ".IGNORE"))})
    if missing or unexpected:
        raise ValueError(f"init state does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    with torch.no_grad():
        for k, p in params.items():
            if tuple(state[k].shape) != tuple(p.shape):
                raise ValueError(f"init state {k} has shape {tuple(state[k].shape)}, the model {tuple(p.shape)}")
            p.copy_(state[k])


def _rng_state(sampler: torch.Generator, device: str) -> dict[str, Tensor]:
    """The sampler and the global RNGs (dropout draws from them): saved so that a resume is exact."""
    state = {"sampler": sampler.get_state(), "torch_rng": torch.get_rng_state()}
    if device.startswith("cuda"):
        state["cuda_rng"] = torch.cuda.get_rng_state(torch.device(device))
    return state


def _restore_rng(state: Mapping[str, Tensor], sampler: torch.Generator, device: str) -> None:
    sampler.set_state(state["sampler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and device.startswith("cuda"):
        torch.cuda.set_rng_state(state["cuda_rng"], torch.device(device))


__all__ = ["train_steps"]
