"""Tensors for a :class:`~grokscope.tasks.word_ops.WordOpsTask`: one padded row per problem.

Apart from the task's config (``word_ops.py``, torch-free so that the command line checks
arguments instantly); the task reaches these through its methods, never the other way round.
"""

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from grokscope.tasks.text import IGNORE

EVAL_ROWS = 512  # per split: enough for a percent-level exact-match curve at every eval, in one forward pass


@dataclass(frozen=True)
class WordOpsData:
    """Inputs ``x`` (the line without its last character, padded with ``;``) and next-character targets ``y``.

    ``y`` is ``-1`` on the prompt (given, not learned) and on the padding, so the loss is the
    answer's and the end token's.
    """

    x_train: Int[Tensor, "n_train block"]
    y_train: Int[Tensor, "n_train block"]
    x_test: Int[Tensor, "n_test block"]
    y_test: Int[Tensor, "n_test block"]

    def split(self, split: str) -> tuple[Int[Tensor, "n block"], Int[Tensor, "n block"]]:
        if split == "train":
            return self.x_train, self.y_train
        if split in ("test", "val"):
            return self.x_test, self.y_test
        raise ValueError(f"unknown split {split!r}: use train or test")

    def sample(
        self, batch_size: int, generator: torch.Generator, *, split: str = "train"
    ) -> tuple[Int[Tensor, "batch block"], Int[Tensor, "batch block"]]:
        x, y = self.split(split)
        idx = torch.randint(len(x), (batch_size,), generator=generator)
        return x[idx], y[idx]


def encode_rows(task: Any, problems) -> tuple[Int[Tensor, "n block"], Int[Tensor, "n block"]]:
    """Rows of ``problems``: the trained targets start at the ``=`` position (it predicts the first answer digit)."""
    block, end_id = task.block_size, task.vocab.encode(task.end)[0]
    x = torch.full((len(problems), block), end_id, dtype=torch.long)
    y = torch.full((len(problems), block), IGNORE, dtype=torch.long)
    for i, (op, a, b) in enumerate(problems):
        ids = task.vocab.encode(task.text(op, a, b))
        n_prompt = len(task.prompt(op, a, b))
        x[i, : len(ids) - 1] = torch.tensor(ids[:-1])
        y[i, n_prompt - 1 : len(ids) - 1] = torch.tensor(ids[n_prompt:])
    return x, y


def encode_problems(task: Any) -> WordOpsData:
    return WordOpsData(*encode_rows(task, task.problems("train")), *encode_rows(task, task.problems("test")))


@torch.no_grad()
def evaluate_teacher_forced(task: Any, model: Any) -> dict[str, float]:
    """``exact_<split>``: every answer character and ``;`` is the argmax given the right prefix, which is
    exactly when greedy decoding reproduces the answer; ``char_acc_<split>``: answer characters right."""
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    out: dict[str, float] = {}
    try:
        for split in ("train", "test"):
            x, y = task.data.split(split)
            x, y = x[:EVAL_ROWS].to(device), y[:EVAL_ROWS].to(device)
            pred = model(x).argmax(-1)
            trained = y != IGNORE
            right = pred == y
            out[f"exact_{split}"] = float((right | ~trained).all(1).float().mean())
            out[f"char_acc_{split}"] = float(right[trained].float().mean())
    finally:
        model.train(was_training)
    return out


__all__ = ["EVAL_ROWS", "WordOpsData", "encode_problems", "encode_rows", "evaluate_teacher_forced"]
