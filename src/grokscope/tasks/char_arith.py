"""Character-level single-digit arithmetic, "Too Big to Think" style: ``<a+b=c>`` and ``<a-b=c>``.

Every line is padded with spaces to ``line_len - 1`` characters and ends with a newline
(``"<7+7=14>\\n"``, ``"<2+5=7> \\n"``: 9 characters), a and b in 0..9. Every expression with both
operands in ``held_out`` (5+7, 7+5, 5-7, 7-5) is left out of the text; the rest, 196 lines, is
shuffled once (``data_seed``) and concatenated; training and validation use this same text, as
in the paper. The vocabulary is the text's 17 characters.
"""

import random
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from grokscope.bounds import check_int, check_seed
from grokscope.tasks.char_eval import arith_eval, check_mode, extrapolation_eval
from grokscope.tasks.text import WindowedText

if TYPE_CHECKING:
    import torch


def arith_line(a: int, op: str, b: int, line_len: int = 9) -> str:
    c = a + b if op == "+" else a - b
    return f"<{a}{op}{b}={c}>".ljust(line_len - 1) + "\n"


@dataclass(frozen=True, kw_only=True)
class CharArithTask(WindowedText):
    """``<a±b=c>`` lines for a, b in 0..``max_operand``; see the module docstring.

    Evaluation (``evaluate``): ``eval_mode`` ``"paper"`` or ``"clean"`` (tasks/char_eval.py),
    ``eval_samples`` generations per prompt at ``eval_temperature`` (0 = greedy) and
    ``eval_top_k``. Defaults are the paper's.
    """

    ops: str = "+-"
    max_operand: int = 9
    held_out: tuple[int, ...] | list[int] = (5, 7)  # a list from JSON; stored as a tuple
    line_len: int = 9
    block_size: int = 9
    batch_size: int = 882
    data_seed: int = 0
    eval_mode: str = "paper"
    eval_samples: int = 10
    eval_temperature: float | int = 0.01
    eval_top_k: int | None = 10
    kind: str = field(default="char_arith", init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.ops or set(self.ops) - {"+", "-"} or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops must be '+', '-' or '+-', got {self.ops!r}")
        if not 1 <= self.max_operand <= 9:
            raise ValueError(f"max_operand must be in 1..9 (single digits), got {self.max_operand}")
        object.__setattr__(self, "held_out", tuple(self.held_out))
        if len(self.held_out) != 2:
            raise ValueError(f"held_out must be a pair of operands, got {self.held_out!r}")
        longest = max(
            len(f"<{a}{op}{b}={a + b if op == '+' else a - b}>\n")
            for op in self.ops
            for a in range(self.max_operand + 1)
            for b in range(self.max_operand + 1)
        )
        if self.line_len < longest:
            raise ValueError(f"line_len {self.line_len} is too short for the longest line ({longest} characters)")
        check_int("block_size", self.block_size)
        if self.block_size < self.line_len:
            raise ValueError(
                f"block size {self.block_size} is shorter than a line ({self.line_len} characters): "
                f"use --block-size {self.line_len} or more"
            )
        check_int("batch_size", self.batch_size)
        check_seed("data_seed", self.data_seed)
        check_mode(self.eval_mode)
        _check_sampling(self.eval_samples, self.eval_temperature, self.eval_top_k)

    @property
    def name(self) -> str:
        return "arith" + ("" if self.eval_mode == "paper" else f"-{self.eval_mode}")

    def is_held_out(self, a: int, b: int) -> bool:
        return {a, b} == set(self.held_out) if self.held_out[0] != self.held_out[1] else a == b == self.held_out[0]

    @cached_property
    def lines(self) -> tuple[str, ...]:
        n = self.max_operand + 1
        lines = [
            arith_line(a, op, b, self.line_len)
            for op in self.ops
            for a in range(n)
            for b in range(n)
            if not self.is_held_out(a, b)
        ]
        random.Random(self.data_seed).shuffle(lines)
        return tuple(lines)

    @cached_property
    def held_out_lines(self) -> tuple[str, ...]:
        return tuple(
            arith_line(a, op, b, self.line_len)
            for op in self.ops
            for a, b in (self.held_out, self.held_out[::-1])
            if self.is_held_out(a, b)
        )

    def evaluate(self, model: Any, *, generator: "torch.Generator") -> dict[str, float | int]:
        n = self.max_operand
        out = arith_eval(
            model,
            self.vocab,
            mode=self.eval_mode,
            samples=self.eval_samples,
            temperature=self.eval_temperature,
            top_k=self.eval_top_k,
            generator=generator,
            held_out=[(a, b) for a in range(n + 1) for b in range(n + 1) if self.is_held_out(a, b)],
            ops=self.ops,
            hi=n,
        )
        return out | {"score": out["math_acc"]}

    def extrapolation(self, model: Any, hi: int = 19, **kwargs: Any) -> dict[str, float | int]:
        """Section 5.1: accuracy on equations with a two-digit operand up to ``hi``."""
        return extrapolation_eval(model, self.vocab, hi=hi, mode=kwargs.pop("mode", self.eval_mode), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["held_out"] = list(self.held_out)
        return d


def _check_sampling(samples: int, temperature: float | int, top_k: int | None) -> None:
    if samples < 1:
        raise ValueError(f"eval samples must be >= 1, got {samples}")
    if temperature < 0:
        raise ValueError(f"eval temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"eval top-k must be >= 1 or None, got {top_k}")
