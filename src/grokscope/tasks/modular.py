"""Binary operations modulo p (Power et al. 2022): the grokking task family (config only).

Every example is the three tokens ``[a, b, =]`` with ``=`` as token ``p``; the label is
``a ∘ b mod p``. The model predicts the label at the final position. This module stays free of
torch so the CLI can validate arguments instantly; the tensors live in ``modular_data``.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from numbers import Real
from typing import TYPE_CHECKING, Literal, get_args

from grokscope.bounds import check_seed

if TYPE_CHECKING:
    from grokscope.tasks.modular_data import ModularData

Op = Literal["add", "sub", "mul", "div", "x2y2", "x2xyy2", "x3xy"]
OPS: tuple[str, ...] = get_args(Op)

OP_FORMULAS: dict[str, str] = {
    "add": "a + b",
    "sub": "a - b",
    "mul": "a * b",
    "div": "a / b  (b != 0, modular inverse)",
    "x2y2": "a^2 + b^2",
    "x2xyy2": "a^2 + ab + b^2",
    "x3xy": "a^3 + ab",
}


# All p^2 pairs are held in memory and the primality test is O(sqrt p): 10^5 (10^10 pairs) is far
# beyond any run, and keeps a hostile run.json from hanging a command that only lists runs.
MAX_P = 100_000


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


@dataclass(frozen=True, kw_only=True)
class ModularTask:
    """``a ∘ b mod p`` over all pairs, split into train/test by ``seed`` and ``frac``.

    ``frac`` is the fraction of pairs used for training (0.3 in Nanda et al.). A model trained
    elsewhere (``grokscope import``) may bring its own split: ``split="given"`` with
    ``train_pairs`` (indices into the a-major pair list of :meth:`dataset`; the rest is the test
    set), or ``split="all"`` when it is unknown (every pair counts as both train and test).
    """

    p: int = 97
    op: Op = "add"
    frac: float = 0.3
    seed: int = 0
    split: Literal["random", "given", "all"] = "random"
    train_pairs: Sequence[int] | None = None  # stored as a sorted tuple
    kind: Literal["modular"] = field(default="modular", repr=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operation {self.op!r}: choose one of {', '.join(OPS)}")
        if isinstance(self.p, bool) or not isinstance(self.p, int) or not 3 <= self.p <= MAX_P:
            raise ValueError(f"p must be an integer in 3..{MAX_P}, got {self.p!r}")
        if self.op == "div" and not is_prime(self.p):
            raise ValueError(
                f"p={self.p} is not prime, so division mod p is not defined for every b: use a prime such as 97 or 113"
            )
        if isinstance(self.frac, bool) or not isinstance(self.frac, Real) or not 0.0 < self.frac < 1.0:  # NaN too
            raise ValueError(f"frac (the train fraction) must be strictly between 0 and 1, got {self.frac!r}")
        check_seed("seed", self.seed)
        self._check_split()

    def _check_split(self) -> None:
        if self.split not in ("random", "given", "all"):
            raise ValueError(f"split must be random, given or all, got {self.split!r}")
        if self.split != "given":
            if self.train_pairs is not None:
                raise ValueError("train_pairs are given only with split='given'")
            return
        n = self.p * (self.p - 1) if self.op == "div" else self.p * self.p
        pairs = self.train_pairs
        if (
            not isinstance(pairs, (list, tuple))
            or not pairs
            or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n for i in pairs)
        ):
            raise ValueError(f"train_pairs must be a non-empty list of pair indices in 0..{n - 1}")
        if len(set(pairs)) != len(pairs) or len(pairs) == n:
            raise ValueError("train_pairs must be distinct and leave at least one test pair")
        object.__setattr__(self, "train_pairs", tuple(sorted(pairs)))

    @property
    def name(self) -> str:
        return f"mod{self.p}" if self.op == "add" else f"mod{self.p}-{self.op}"

    @property
    def d_vocab(self) -> int:
        """Input vocabulary: residues 0..p-1 and the ``=`` token."""
        return self.p + 1

    @property
    def d_vocab_out(self) -> int:
        """Output classes: residues only (``=`` is never a label)."""
        return self.p

    @property
    def n_ctx(self) -> int:
        return 3

    @property
    def eq_token(self) -> int:
        return self.p

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.split == "random":  # what every run trained by grokscope has: run.json stays as it was
            del d["split"], d["train_pairs"]
        return d

    def dataset(self) -> "ModularData":
        """All pairs, labels and the seeded train/test split (see :func:`modular_dataset`)."""
        from grokscope.tasks.modular_data import modular_dataset

        return modular_dataset(self)
