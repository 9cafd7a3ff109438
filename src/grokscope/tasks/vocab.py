"""Character vocabularies for the character-level tasks (nanoGPT's ``stoi``/``itos``, as data)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class CharVocab:
    """A character vocabulary: token ``i`` is ``chars[i]``.

    Built from text the nanoGPT way (``sorted(set(text))``), so the same text always gives the
    same ids.

    >>> v = CharVocab.from_text("<1+2=3>\\n")
    >>> v.size, v.encode("1+2"), v.decode([2, 1, 3])
    (8, [2, 1, 3], '1+2')
    """

    chars: str

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("a vocabulary needs at least one character")
        if len(set(self.chars)) != len(self.chars):
            dup = sorted({c for c in self.chars if self.chars.count(c) > 1})
            raise ValueError(f"vocabulary characters must be unique, repeated: {dup!r}")

    @classmethod
    def from_text(cls, *texts: str | Iterable[str]) -> "CharVocab":
        seen: set[str] = set()
        for t in texts:
            seen.update(t if isinstance(t, str) else "".join(t))
        return cls("".join(sorted(seen)))

    @property
    def size(self) -> int:
        return len(self.chars)

    @cached_property
    def _stoi(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        stoi = self._stoi
        try:
            return [stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary {self.chars!r}") from None

    def decode(self, ids: Sequence[int]) -> str:
        n = len(self.chars)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"token id {i} is outside the vocabulary (size {n})")
            out.append(self.chars[i])
        return "".join(out)
