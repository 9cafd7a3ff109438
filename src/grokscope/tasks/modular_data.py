"""Tensors for a :class:`~grokscope.tasks.modular.ModularTask`: every pair, its label and the seeded split.

Apart from the task's config (``modular.py``, torch-free so that the command line checks
arguments instantly); the task reaches this through ``task.dataset()``, never the other way round.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Bool, Int
from torch import Tensor


@dataclass(frozen=True)
class ModularData:
    """Every valid pair of a modular task (a-major), labels, and train/test indices into them."""

    task: Any  # the ModularTask it was built from (that module imports this one, not back)
    a: Int[Tensor, " n"]
    b: Int[Tensor, " n"]
    labels: Int[Tensor, " n"]
    train_idx: Int[Tensor, " n_train"]
    test_idx: Int[Tensor, " n_test"]

    def tokens(self) -> Int[Tensor, "n 3"]:
        """``[a, b, =]`` token rows, the input format of the HookedTransformer."""
        return torch.stack([self.a, self.b, torch.full_like(self.a, self.task.eq_token)], dim=1)

    def train_mask(self) -> Bool[Tensor, "p p"]:
        """``mask[a, b]`` is True where ``(a, b)`` is a training pair."""
        p = self.task.p
        mask = torch.zeros(p, p, dtype=torch.bool)
        mask[self.a[self.train_idx], self.b[self.train_idx]] = True
        return mask


def _div(a: Tensor, b: Tensor, p: int) -> Tensor:
    inv = torch.tensor([pow(x, -1, p) if x else 0 for x in range(p)])
    return a * inv[b]


_OP_FNS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "add": lambda a, b, p: a + b,
    "sub": lambda a, b, p: a - b,
    "mul": lambda a, b, p: a * b,
    "div": _div,
    "x2y2": lambda a, b, p: a * a + b * b,
    "x2xyy2": lambda a, b, p: a * a + a * b + b * b,
    "x3xy": lambda a, b, p: a * a * a + a * b,
}


def modular_dataset(task: Any) -> ModularData:
    """Pairs ``(a, b)`` listed a-major (``b = 0`` dropped for division), labels ``a ∘ b mod p``,
    and a split that depends only on ``task.seed`` and ``task.frac`` (or is the task's own, see
    :class:`~grokscope.tasks.modular.ModularTask`)."""
    a, b = torch.meshgrid(torch.arange(task.p), torch.arange(task.p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    if task.op == "div":
        keep = b != 0
        a, b = a[keep], b[keep]
    labels = _OP_FNS[task.op](a, b, task.p) % task.p
    n = len(a)
    if getattr(task, "split", "random") == "given":
        train = torch.tensor(task.train_pairs, dtype=torch.long)
        test = torch.ones(n, dtype=torch.bool)
        test[train] = False
        return ModularData(task, a, b, labels, train, test.nonzero().flatten())
    if getattr(task, "split", "random") == "all":  # unknown split: every pair on both sides
        return ModularData(task, a, b, labels, torch.arange(n), torch.arange(n))
    n_train = int(task.frac * n)
    if n_train == 0 or n_train == n:
        raise ValueError(f"frac={task.frac} leaves an empty train or test set for p={task.p}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(task.seed))
    return ModularData(task, a, b, labels, perm[:n_train].sort().values, perm[n_train:].sort().values)
