"""The grokking model's parameters as one typed object: the only place their state-dict names are spelled.

Checkpoints, ``HookedTransformer`` and the trainer's optimizer all hold the parameters by
TransformerLens name (``"blocks.0.mlp.W_in"``); every computation of the model in this folder
reads them from a :class:`Grok1LParams` instead, by attribute. ``names.STATE_NAMES`` maps one to
the other, in ``HookedTransformer.named_parameters()`` order (the order its init draws them in).

Every tensor may carry the same leading axes (a stack of checkpoints: ``Run.stack()``).
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

from jaxtyping import Float
from torch import Tensor

from grokscope.models.grok1l.names import STATE_NAMES


@dataclass(frozen=True)
class Grok1LParams:
    """The 16 parameter tensors of a 1-layer, no-LayerNorm model (``*c``: optional checkpoint axes)."""

    W_E: Float[Tensor, "*c d_vocab d_model"]
    W_pos: Float[Tensor, "*c n_ctx d_model"]
    W_Q: Float[Tensor, "*c n_heads d_model d_head"]
    W_O: Float[Tensor, "*c n_heads d_head d_model"]
    b_Q: Float[Tensor, "*c n_heads d_head"]
    b_O: Float[Tensor, "*c d_model"]
    W_K: Float[Tensor, "*c n_heads d_model d_head"]
    W_V: Float[Tensor, "*c n_heads d_model d_head"]
    b_K: Float[Tensor, "*c n_heads d_head"]
    b_V: Float[Tensor, "*c n_heads d_head"]
    W_in: Float[Tensor, "*c d_model d_mlp"]
    b_in: Float[Tensor, "*c d_mlp"]
    W_out: Float[Tensor, "*c d_mlp d_model"]
    b_out: Float[Tensor, "*c d_model"]
    W_U: Float[Tensor, "*c d_model d_vocab_out"]
    b_U: Float[Tensor, "*c d_vocab_out"]

    @classmethod
    def from_state(cls, state: Mapping[str, Tensor]) -> "Grok1LParams":
        """Read the tensors of a state dict (extra entries, such as buffers, are ignored).

        A missing parameter is a ``ValueError`` naming it: the state is not this model's.
        """
        missing = [name for name in STATE_NAMES.values() if name not in state]
        if missing:
            raise ValueError(f"not a 1-layer grokking model's parameters: missing {missing[:4]}")
        return cls(**{f: state[name] for f, name in STATE_NAMES.items()})

    def to_state(self) -> dict[str, Tensor]:
        """The tensors by TransformerLens state-dict name, in ``named_parameters()`` order."""
        return {name: getattr(self, f) for f, name in STATE_NAMES.items()}

    def items(self) -> Iterator[tuple[str, Tensor]]:
        """``(field, tensor)`` pairs in ``named_parameters()`` order."""
        return ((f.name, getattr(self, f.name)) for f in fields(self))

    def map(self, fn) -> "Grok1LParams":
        """The same parameters with ``fn`` applied to every tensor (e.g. ``lambda t: t[0]``)."""
        return Grok1LParams(**{f: fn(t) for f, t in self.items()})

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[-3]

    @property
    def d_head(self) -> int:
        return self.W_Q.shape[-1]

    @property
    def d_mlp(self) -> int:
        return self.W_in.shape[-1]

    @property
    def d_vocab_out(self) -> int:
        return self.W_U.shape[-1]


def as_params(params: "Grok1LParams | Mapping[str, Tensor]") -> Grok1LParams:
    """``params`` as a :class:`Grok1LParams` (a state dict is read by name)."""
    return params if isinstance(params, Grok1LParams) else Grok1LParams.from_state(params)


def param_shapes(
    *, d_vocab: int, d_vocab_out: int, n_ctx: int, n_heads: int, d_model: int, d_head: int, d_mlp: int
) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter by state-dict name, in ``named_parameters()`` order."""
    h, d, k, m = n_heads, d_model, d_head, d_mlp
    by_field = {
        "W_E": (d_vocab, d),
        "W_pos": (n_ctx, d),
        "W_Q": (h, d, k),
        "W_O": (h, k, d),
        "b_Q": (h, k),
        "b_O": (d,),
        "W_K": (h, d, k),
        "W_V": (h, d, k),
        "b_K": (h, k),
        "b_V": (h, k),
        "W_in": (d, m),
        "b_in": (m,),
        "W_out": (m, d),
        "b_out": (d,),
        "W_U": (d, d_vocab_out),
        "b_U": (d_vocab_out,),
    }
    return {STATE_NAMES[f]: shape for f, shape in by_field.items()}


__all__ = ["Grok1LParams", "as_params", "param_shapes"]
