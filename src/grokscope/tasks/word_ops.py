"""Word-operation arithmetic: ``DIVIDE 845 79=10.69;``.

The task of the blog posts "Why arithmetic models look dumb long after they've learned the rule".

Each example is one line: the operation word, two operands, ``=``, the answer and the explicit
end-of-answer token ``;``. Only the answer and ``;`` are trained (the prompt is given), so the
loss is the answer's loss. DIVIDE answers carry ``decimals`` places, truncated toward zero (the
blog's ``10.696202531`` for 845/79), never rounded; DIVIDE never draws ``b = 0`` (as ``mod<p>-div``
never does), so a range holding no other divisor is an error.

This module stays free of torch so that the CLI can validate options instantly; the tensors live
in :mod:`grokscope.tasks.word_ops_data`.

>>> t = WordOpsTask(n_train=100, n_test=20)
>>> t.text("DIVIDE", 845, 79)
'DIVIDE 845 79=10.6962;'
>>> t.answer("SUBTRACT", 190, 498), t.prompt("SUBTRACT", 190, 498)
('-308', 'SUBTRACT 190 498=')
"""

import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from numbers import Integral
from typing import TYPE_CHECKING, Any, Literal, get_args

from grokscope.bounds import check_int, check_seed
from grokscope.tasks.text import VocabSized
from grokscope.tasks.vocab import CharVocab

if TYPE_CHECKING:
    import torch

    from grokscope.tasks.word_ops_data import WordOpsData

WordOp = Literal["SUM", "SUBTRACT", "MULTIPLY", "DIVIDE"]
WORD_OPS: tuple[str, ...] = get_args(WordOp)
END = ";"  # end of answer: a character no answer contains, so "stopped" is unambiguous
SEP = "="
MAX_DECIMALS = 12
MAX_OPERAND = 10**9 - 1  # nine digits: operands beyond are a typo, and their problems could not be drawn

Problem = tuple[str, int, int]


def word_op_answer(op: str, a: int, b: int, decimals: int) -> str:
    """The exact answer text: integers as they are, DIVIDE truncated toward zero to ``decimals`` places."""
    if op == "SUM":
        return str(a + b)
    if op == "SUBTRACT":
        return str(a - b)
    if op == "MULTIPLY":
        return str(a * b)
    if op == "DIVIDE":
        if b == 0:
            raise ValueError(f"DIVIDE {a} {b}: division by zero")
        scaled = abs(a) * 10**decimals // abs(b)  # integer arithmetic: no float rounding in the digits
        sign = "-" if (a < 0) != (b < 0) and scaled else ""
        whole, frac = divmod(scaled, 10**decimals)
        return f"{sign}{whole}" + (f".{frac:0{decimals}d}" if decimals else "")
    raise ValueError(f"unknown operation {op!r}: choose from {', '.join(WORD_OPS)}")


@dataclass(frozen=True, kw_only=True)
class WordOpsTask(VocabSized):
    """``OP a b=answer;`` for ``ops`` with operands in ``low..high`` (inclusive).

    ``n_train + n_test`` distinct problems are drawn uniformly from all of them, split by ``seed``.
    Problem counts per operation follow the number of operand pairs (DIVIDE has slightly fewer:
    no ``b = 0``). ``batch_size`` is the training mini-batch.
    """

    ops: Sequence[str] = WORD_OPS
    low: int = 0
    high: int = 999
    decimals: int = 4
    n_train: int = 10_000
    n_test: int = 1_000
    seed: int = 0
    batch_size: int = 64
    kind: Literal["word_ops"] = field(default="word_ops", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))  # JSON gives a list back
        if not self.ops:
            raise ValueError(f"no operation given: choose from {', '.join(WORD_OPS)}")
        for op in self.ops:
            if op not in WORD_OPS:
                raise ValueError(f"unknown operation {op!r}: choose from {', '.join(WORD_OPS)}")
        if len(set(self.ops)) != len(self.ops):
            raise ValueError(f"operations repeat in {', '.join(self.ops)}: give each once")
        if any(isinstance(x, bool) or not isinstance(x, Integral) for x in (self.low, self.high)):
            raise ValueError(f"operands must be integers, got low={self.low!r} and high={self.high!r}")
        if not -MAX_OPERAND <= min(self.low, self.high) <= max(self.low, self.high) <= MAX_OPERAND:
            raise ValueError(
                f"operands must lie in {-MAX_OPERAND}..{MAX_OPERAND} (nine digits), got {self.low}..{self.high}"
            )
        if self.low > self.high:
            raise ValueError(f"operand range {self.low}..{self.high} is empty: need low <= high")
        if "DIVIDE" in self.ops and self.low == self.high == 0:
            raise ValueError("operand range 0..0 makes DIVIDE divide by zero: widen the range or drop DIVIDE")
        check_int("decimals", self.decimals, lo=0, hi=MAX_DECIMALS)
        for name in ("n_train", "n_test", "batch_size"):
            check_int(name, getattr(self, name))
        check_seed("seed", self.seed)
        if self.n_problems > sys.maxsize:  # random.sample draws from a range of them
            raise ValueError(
                f"operands {self.low}..{self.high} give {self.n_problems:.3g} problems with "
                f"{len(self.ops)} operation(s), more than can be drawn from ({sys.maxsize:.3g}): "
                "narrow the range"
            )
        if self.n_train + self.n_test > self.n_problems:
            raise ValueError(
                f"{self.n_train} + {self.n_test} examples asked for, but operands {self.low}..{self.high} "
                f"give only {self.n_problems} problems: widen the range or ask for fewer"
            )

    # --- the problem space -------------------------------------------------------------------

    @property
    def n_operands(self) -> int:
        return self.high - self.low + 1

    def _n_second(self, op: str) -> int:
        return self.n_operands - (op == "DIVIDE" and self.low <= 0 <= self.high)

    @property
    def n_problems(self) -> int:
        return sum(self.n_operands * self._n_second(op) for op in self.ops)

    def problem(self, index: int) -> Problem:
        """Problem number ``index`` of the whole space (ops in order, then ``a``, then ``b``)."""
        for op in self.ops:
            n_b = self._n_second(op)
            size = self.n_operands * n_b
            if index < size:
                a, k = divmod(index, n_b)
                b = self.low + k
                if op == "DIVIDE" and self.low <= 0 <= b:
                    b += 1  # skip b = 0
                return op, self.low + a, b
            index -= size
        raise IndexError(f"problem index out of range (there are {self.n_problems})")

    @cached_property
    def _split(self) -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
        # random.sample over a range object never materialises the 4M-problem space.
        picks = random.Random(self.seed).sample(range(self.n_problems), self.n_train + self.n_test)
        problems = tuple(self.problem(i) for i in picks)
        return problems[: self.n_train], problems[self.n_train :]

    def problems(self, split: str = "train") -> tuple[Problem, ...]:
        """The ``(op, a, b)`` problems of ``train`` or ``test`` (``val`` is the test set)."""
        if split == "train":
            return self._split[0]
        if split in ("test", "val"):
            return self._split[1]
        raise ValueError(f"unknown split {split!r}: use train or test")

    # --- text ------------------------------------------------------------------------------------

    def prompt(self, op: str, a: int, b: int) -> str:
        return f"{op} {a} {b}{SEP}"

    def answer(self, op: str, a: int, b: int) -> str:
        return word_op_answer(op, a, b, self.decimals)

    def text(self, op: str, a: int, b: int) -> str:
        return self.prompt(op, a, b) + self.answer(op, a, b) + END

    def candidates(self, a: int, b: int) -> dict[str, str]:
        """Every operation's answer to ``a, b`` (DIVIDE left out for ``b = 0``): what "the right operation" is told from."""
        return {op: self.answer(op, a, b) for op in WORD_OPS if not (op == "DIVIDE" and b == 0)}

    @property
    def end(self) -> str:
        return END

    @property
    def name(self) -> str:
        ops = "" if self.ops == WORD_OPS else "-" + "-".join(op.lower() for op in self.ops)
        rng = "" if (self.low, self.high) == (0, 999) else f"-r{self.low}_{self.high}"
        return f"wordops{ops}{rng}"

    @cached_property
    def vocab(self) -> CharVocab:
        # Every operation's letters, whichever ops are trained, so vocabularies agree across runs.
        return CharVocab.from_text("0123456789-. ", SEP, END, *WORD_OPS)

    def _max_answer_len(self, op: str) -> int:
        m = max(abs(self.low), abs(self.high))
        smallest_b = 1 if self.low <= 0 <= self.high else min(abs(self.low), abs(self.high))
        biggest = {"SUM": 2 * m, "SUBTRACT": self.high - self.low, "MULTIPLY": m * m, "DIVIDE": m // smallest_b}[op]
        can_be_negative = self.low < 0 or op == "SUBTRACT"
        return can_be_negative + len(str(biggest)) + (op == "DIVIDE" and self.decimals > 0) * (1 + self.decimals)

    @property
    def block_size(self) -> int:
        """Longest line minus one (inputs are the line without its last character); an upper bound."""
        operand = max(len(str(self.low)), len(str(self.high)))
        return max(len(op) + 2 * operand + 3 + self._max_answer_len(op) + len(END) for op in self.ops) - 1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ops"] = list(self.ops)
        return d

    # --- tensors (torch imported on first use) ---------------------------------------------------

    @cached_property
    def data(self) -> "WordOpsData":
        from grokscope.tasks.word_ops_data import encode_problems

        return encode_problems(self)

    def sample_batch(self, batch_size: int, generator: "torch.Generator", *, split: str = "train"):
        """``batch_size`` random problems of ``split``: inputs and targets, ``-1`` on prompt and padding."""
        return self.data.sample(batch_size, generator, split=split)

    def evaluate(self, model: Any, *, generator: "torch.Generator") -> dict[str, float]:
        """Exact match under greedy decoding and answer-character accuracy, on (up to) 512 problems per split."""
        from grokscope.tasks.word_ops_data import evaluate_teacher_forced

        return evaluate_teacher_forced(self, model)


__all__ = ["END", "WORD_OPS", "Problem", "WordOp", "WordOpsTask", "word_op_answer"]
