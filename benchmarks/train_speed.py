"""Training speed: the plain TransformerLens loop vs grokscope's trainer, same work, one process.

The plain loop is what a notebook does: ``HookedTransformer(tokens)[:, -1]``, float64
cross-entropy, ``backward()``, AdamW, on the full training batch of a+b mod 97 (30%).
grokscope is timed through its public ``train()`` inside ``speed_settings()``, as the command line
runs it, so its number includes test evaluation, metrics and checkpoint writes that the plain loop
skips.

    python benchmarks/train_speed.py [--steps 300] [--p 97]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from grokscope.config import RunConfig, TrainConfig
from grokscope.models.build import build_model
from grokscope.runtime import speed_settings
from grokscope.tasks import ModularTask
from grokscope.training.train import train


class PlainLoop:
    """The notebook way on grokscope's split and initial weights: ``HookedTransformer(tokens)[:, -1]``,
    float64 cross-entropy, ``backward()``, AdamW with the trainer's hyperparameters and warm-up."""

    def __init__(self, task: ModularTask, seed: int = 0):
        data = task.dataset()
        self.model = build_model("grok1l", task, seed=seed)
        tokens = data.tokens()
        self.tokens, self.labels = tokens[data.train_idx], data.labels[data.train_idx]
        self.test_tokens, self.test_labels = tokens[data.test_idx], data.labels[data.test_idx]
        self.tc = TrainConfig()
        self.opt = torch.optim.AdamW(
            self.model.parameters(),
            lr=self.tc.lr,
            weight_decay=self.tc.weight_decay,
            betas=(self.tc.beta1, self.tc.beta2),
        )
        self.steps_done = 0

    def step(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.tc.lr * min(self.steps_done / self.tc.warmup, 1.0)
        loss = F.cross_entropy(self.model(self.tokens)[:, -1].double(), self.labels)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps_done += 1

    @torch.no_grad()
    def test_acc(self) -> float:
        return (self.model(self.test_tokens)[:, -1].argmax(-1) == self.test_labels).double().mean().item()


def plain_loop(task: ModularTask, steps: int) -> float:
    """Seconds for ``steps`` notebook-style steps (after 10 warm-up steps)."""
    loop = PlainLoop(task)
    for _ in range(10):
        loop.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return time.perf_counter() - t0


def grokscope_trainer(task: ModularTask, steps: int, out: str) -> float:
    """Seconds for ``steps`` steps of ``grokscope.train`` (checkpoints, evals and all)."""
    config = RunConfig(task=task, train=TrainConfig(steps=steps, stop_after_grok=None))
    t0 = time.perf_counter()
    with speed_settings():
        train(config, out, device="cpu")
    return time.perf_counter() - t0


def machine_line() -> str:
    """The CPU and its float32 matmul rate: step times only compare between machines alike in both."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        if cpuinfo.exists()
        else []
    )
    model = names[0] if names else platform.processor() or "unknown CPU"
    x = torch.randn(1024, 1024)
    for _ in range(3):
        x @ x
    t0, n = time.perf_counter(), 20
    for _ in range(n):
        x @ x
    gflops = 2 * 1024**3 * n / (time.perf_counter() - t0) / 1e9
    return f"machine: {model}, {torch.get_num_threads()} threads, float32 matmul 1024^3 at {gflops:.0f} GFLOP/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--p", type=int, default=97)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    task = ModularTask(p=args.p)
    plain, ours = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        plain.append(plain_loop(task, args.steps))
        out = tempfile.mkdtemp()
        try:
            ours.append(grokscope_trainer(task, args.steps, out))
        finally:
            shutil.rmtree(out)
    tp, to = statistics.median(plain), statistics.median(ours)
    print(machine_line())
    print(f"a+b mod {args.p}, frac 0.3, full batch, {args.steps} steps, torch threads {torch.get_num_threads()}")
    print(f"plain TransformerLens loop : {args.steps / tp:7.1f} steps/s  ({1000 * tp / args.steps:.1f} ms/step)")
    print(f"grokscope train()          : {args.steps / to:7.1f} steps/s  ({1000 * to / args.steps:.1f} ms/step)")
    print(f"ratio                      : {tp / to:.2f}x")


if __name__ == "__main__":
    main()
