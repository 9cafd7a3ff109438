"""The contract of every character-level task, and nanoGPT's window sampler.

A :class:`TextTask` is a frozen dataclass that knows its text, its vocabulary and how to score a
model on its own terms (``evaluate``). The trainer (``grokscope.training.lm``) only ever calls
the members listed in the protocol, so a new task needs nothing else.

Training data follow nanoGPT's "poor man's data loader": the training text is one token stream
and a batch is ``batch_size`` windows of ``block_size`` tokens at uniformly random offsets, the
targets being the same windows shifted by one. Target ``-1`` marks a position that is not
trained (``ignore_index``); the text tasks here train every position, as nanoGPT does.
"""

from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from grokscope.tasks.vocab import CharVocab

if TYPE_CHECKING:
    import torch
    from jaxtyping import Int
    from torch import Tensor
    from typing_extensions import TypeIs

IGNORE = -1
"""Target id of a position that is not trained (passed to ``cross_entropy(ignore_index=...)``)."""


@runtime_checkable
class TextTask(Protocol):
    """What the language-model trainer needs from a character-level task.

    ``evaluate`` returns the task's own metrics (written to ``metrics.jsonl`` at every eval); if
    it has a ``"score"`` key, the trainer keeps the best-scoring step (the paper's
    "best combined score") and checkpoints it.
    """

    name: str
    vocab: CharVocab
    block_size: int
    batch_size: int

    @property
    def d_vocab(self) -> int: ...

    @property
    def d_vocab_out(self) -> int: ...

    @property
    def n_ctx(self) -> int: ...

    def to_dict(self) -> dict[str, Any]: ...

    def sample_batch(
        self, batch_size: int, generator: "torch.Generator", *, split: str = "train"
    ) -> tuple["Int[Tensor, 'batch block']", "Int[Tensor, 'batch block']"]: ...

    def evaluate(self, model: Any, *, generator: "torch.Generator") -> dict[str, float]: ...


def is_text_task(task: object) -> "TypeIs[TextTask]":
    return isinstance(task, TextTask)


def windows(
    stream: "Int[Tensor, ' n']", block_size: int, batch_size: int, generator: "torch.Generator"
) -> tuple["Int[Tensor, 'batch block']", "Int[Tensor, 'batch block']"]:
    """``batch_size`` random windows of ``stream`` and their next-token targets (nanoGPT's get_batch).

    Offsets are uniform in ``[0, len(stream) - block_size)``, exactly as nanoGPT draws them.
    """
    import torch

    if len(stream) <= block_size:
        raise ValueError(f"text of {len(stream)} tokens is too short for block size {block_size}")
    ix = torch.randint(len(stream) - block_size, (batch_size,), generator=generator)
    offsets = ix[:, None] + torch.arange(block_size + 1)
    chunk = stream[offsets]
    return chunk[:, :-1].contiguous(), chunk[:, 1:].contiguous()


class VocabSized:
    """``d_vocab``, ``d_vocab_out`` and ``n_ctx`` of a task with a ``vocab`` and a ``block_size``."""

    if TYPE_CHECKING:  # each task provides them: as fields, properties or cached properties

        @property
        def vocab(self) -> CharVocab: ...

        @property
        def block_size(self) -> int: ...

    @property
    def d_vocab(self) -> int:
        return self.vocab.size

    @property
    def d_vocab_out(self) -> int:
        return self.vocab.size

    @property
    def n_ctx(self) -> int:
        return self.block_size


class WindowedText(VocabSized):
    """A task trained on random windows of one text, ``"".join(self.lines)`` (nanoGPT's data)."""

    if TYPE_CHECKING:  # each task provides them, as a cached property

        @property
        def lines(self) -> tuple[str, ...]: ...

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @cached_property
    def vocab(self) -> CharVocab:
        return CharVocab.from_text(self.text)

    @cached_property
    def _stream(self) -> "Tensor":
        import torch

        return torch.tensor(self.vocab.encode(self.text), dtype=torch.long)

    def sample_batch(
        self, batch_size: int, generator: "torch.Generator", *, split: str = "train"
    ) -> tuple["Int[Tensor, 'batch block']", "Int[Tensor, 'batch block']"]:
        # Validation text is the training text (the paper's set-up), so split changes nothing.
        return windows(self._stream, self.block_size, batch_size, generator)
