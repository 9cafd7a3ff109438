"""Capital-city facts (pure memorization) and the joint arithmetic + facts task.

The facts file holds one ``Capital of <country> is <capital>`` per line (``#`` comments and blank
lines allowed); the shipped one is ``tasks/data/capitals.txt`` (50 facts). Each fact becomes the
training line ``"Capital of X is Y \\n"`` (the trailing space is the paper's), training text =
validation text, lines in file order. The joint task's text is the arithmetic text followed by
the facts text, as in the paper's ``both_math_and_facts`` data.

Block size: ``None`` takes the longest line. The paper uses 24, which is shorter than most of its
own lines (the longest, "Capital of the Netherlands is Amsterdam", is 41 characters with its
ending); nanoGPT trains on random windows of the stream, so that still works, but it must be
asked for with ``allow_short_block=True``: a block shorter than the longest line is otherwise an
error.
"""

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grokscope.bounds import check_int
from grokscope.tasks.char_arith import CharArithTask, _check_sampling
from grokscope.tasks.char_eval import arith_eval, check_mode, facts_eval
from grokscope.tasks.text import WindowedText

if TYPE_CHECKING:
    import torch

FACT = re.compile(r"^Capital of (\S.*?) is (\S.*?)$")


def packaged_facts_path() -> Path:
    return Path(str(resources.files("grokscope.tasks") / "data" / "capitals.txt"))


def read_facts(path: str | Path | None = None) -> tuple[tuple[str, str], ...]:
    """``(country, capital)`` pairs from a facts file; a malformed line is an error naming it."""
    p = packaged_facts_path() if path is None else Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ValueError(f"cannot read facts file {p} ({e.strerror})") from e
    facts = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = FACT.match(s)
        if m is None:
            raise ValueError(f"{p} line {n}: expected 'Capital of <country> is <capital>', got {s!r}")
        facts.append((m.group(1), m.group(2)))
    if not facts:
        raise ValueError(f"{p} holds no facts")
    return tuple(facts)


def _check_pairs(pairs: object) -> tuple[tuple[str, str], ...]:
    """Facts as stored in a run's config (JSON lists): a non-empty list of [country, capital] strings."""
    if not (
        isinstance(pairs, (list, tuple))
        and pairs
        and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, str) and x.strip() for x in p)
            for p in pairs
        )
    ):
        raise ValueError("fact_pairs must be a non-empty list of [country, capital] strings")
    return tuple((str(c), str(k)) for c, k in pairs)


def fact_line(country: str, capital: str) -> str:
    return f"Capital of {country} is {capital} \n"


def _block_size(lines: tuple[str, ...], block_size: int | None, allow_short: bool) -> int:
    longest = max(lines, key=len)
    if block_size is None:
        return len(longest)
    check_int("block_size", block_size, lo=2)
    if block_size < len(longest) and not allow_short:
        raise ValueError(
            f"block size {block_size} is shorter than the longest line ({len(longest)} characters: "
            f"{longest.rstrip()!r}): use --block-size {len(longest)}, or allow_short_block=True "
            "to train on windows of it as the paper does"
        )
    return block_size


@dataclass(frozen=True, kw_only=True)
class _TextBase(WindowedText):
    """``facts_file`` is read once, when the task is made: the task then holds the facts themselves
    (``fact_pairs``), so a run's ``run.json`` carries them and never a path to read again (a run
    folder may come from anyone). ``None`` for both is the packaged file."""

    facts_file: str | None = None
    fact_pairs: tuple[tuple[str, str], ...] | None = None
    block_size: int | None = None  # type: ignore[assignment]  # None only until _validate() sets the default
    allow_short_block: bool = False
    batch_size: int = 576
    eval_mode: str = "paper"
    eval_samples: int = 10
    eval_temperature: float | int = 0.01
    eval_top_k: int | None = 10

    def _validate(self) -> None:
        if self.facts_file is not None:
            object.__setattr__(self, "fact_pairs", read_facts(self.facts_file))
            object.__setattr__(self, "facts_file", None)
        elif self.fact_pairs is not None:
            object.__setattr__(self, "fact_pairs", _check_pairs(self.fact_pairs))
        check_int("batch_size", self.batch_size)
        check_mode(self.eval_mode)
        _check_sampling(self.eval_samples, self.eval_temperature, self.eval_top_k)
        object.__setattr__(self, "block_size", _block_size(self.lines, self.block_size, self.allow_short_block))

    @cached_property
    def facts(self) -> tuple[tuple[str, str], ...]:
        return read_facts() if self.fact_pairs is None else self.fact_pairs

    def _sampling(self) -> dict[str, Any]:
        return dict(
            mode=self.eval_mode, samples=self.eval_samples, temperature=self.eval_temperature, top_k=self.eval_top_k
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class CapitalsTask(_TextBase):
    """Memorize 50 ``Capital of X is Y`` facts (train = validation); batch 576."""

    kind: str = field(default="capitals", init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate()

    @property
    def name(self) -> str:
        return "capitals" + ("" if self.eval_mode == "paper" else f"-{self.eval_mode}")

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return tuple(fact_line(c, k) for c, k in self.facts)

    def evaluate(self, model: Any, *, generator: "torch.Generator") -> dict[str, float | int]:
        out = facts_eval(model, self.vocab, self.facts, generator=generator, **self._sampling())
        return out | {"score": out["facts_acc"]}


@dataclass(frozen=True, kw_only=True)
class JointTask(_TextBase):
    """The arithmetic text followed by the facts text; combined score over both (the paper's)."""

    kind: str = field(default="joint", init=False, repr=False)

    def __post_init__(self) -> None:
        self._validate()

    @property
    def name(self) -> str:
        return "joint" + ("" if self.eval_mode == "paper" else f"-{self.eval_mode}")

    @cached_property
    def arith(self) -> CharArithTask:
        return CharArithTask(
            eval_mode=self.eval_mode,
            eval_samples=self.eval_samples,
            eval_temperature=self.eval_temperature,
            eval_top_k=self.eval_top_k,
        )

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return self.arith.lines + tuple(fact_line(c, k) for c, k in self.facts)

    def evaluate(self, model: Any, *, generator: "torch.Generator") -> dict[str, float | int]:
        a = self.arith
        held = [(x, y) for x in range(10) for y in range(10) if a.is_held_out(x, y)]
        out = arith_eval(model, self.vocab, held_out=held, generator=generator, **self._sampling())
        out |= facts_eval(model, self.vocab, self.facts, generator=generator, **self._sampling())
        # The paper's "combined": all correct answers over all attempts, arithmetic and facts.
        total = out["math_total"] + out["facts_total"]
        return out | {"score": (out["math_correct"] + out["facts_correct"]) / total}
