"""Character-model training speed: the plain HookedTransformer step vs grokscope's fused forward, one process.

Both compute one nanoGPT training step of a "Too Big to Think" model on its task's batch
(arith: 882 x 9 tokens; joint: 576 x 24, the paper's block): forward, cross-entropy over every position,
``backward()``, the tied-embedding gradient, clipping and AdamW. (a) runs
``HookedTransformer(x)``; (b) runs ``models/lm_fast.lm_logits`` on the same parameters, as the
trainer does with ``fast=True`` (its default). One torch thread, as the reproduction script
runs them.

    python benchmarks/lm_speed.py [--steps 100] [--presets n14 n28 n56] [--tasks arith joint]
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from grokscope.models.build import build_model
from grokscope.models.lm_fast import lm_logits
from grokscope.models.nanogpt import optimizer_groups, sync_tied_, tie_grads_
from grokscope.tasks import CharArithTask, JointTask
from grokscope.tasks.text import IGNORE

TASKS = {"arith": CharArithTask, "joint": lambda: JointTask(block_size=24, allow_short_block=True)}  # the paper's block


def ms_per_step(preset: str, task, steps: int, fast: bool) -> float:
    """Median milliseconds per training step (after 10 warm-up steps)."""
    model = build_model(preset, task, seed=0)
    params = dict(model.named_parameters())
    sync_tied_(params)
    opt = torch.optim.AdamW(optimizer_groups(params, 0.1), lr=1e-3, betas=(0.9, 0.99), fused=True)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 10):
        x, y = task.sample_batch(task.batch_size, gen, split="train")
        t0 = time.perf_counter()
        logits = lm_logits(params, x, n_layers=model.cfg.n_layers, eps=model.cfg.eps) if fast else model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        tie_grads_(params)
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        sync_tied_(params)
        if i >= 10:
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--presets", nargs="+", default=["n14", "n28", "n56"])
    ap.add_argument("--tasks", nargs="+", default=["arith", "joint"], choices=list(TASKS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'task':8} {'model':6} {'HookedTransformer':>18} {'grokscope fused':>16} {'ratio':>6}")
    for task_name in args.tasks:
        task = TASKS[task_name]()
        for preset in args.presets:
            plain, fast = ms_per_step(preset, task, args.steps, False), ms_per_step(preset, task, args.steps, True)
            print(f"{task_name:8} {preset:6} {plain:15.1f} ms {fast:13.1f} ms {plain / fast:5.2f}x")


if __name__ == "__main__":
    main()
