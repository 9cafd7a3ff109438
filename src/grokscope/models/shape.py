"""An explicit model shape: the ``HookedTransformerConfig`` of a model that is not a preset (an imported one)."""

from dataclasses import dataclass
from typing import Any

ACT_FNS = ("relu", "gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "silu")
ATTENTION_DIRS = ("causal", "bidirectional")
LN_BLOCK = ("ln1.w", "ln1.b", "ln2.w", "ln2.b")
# TransformerLens 3.x's named_parameters() order (models/state.py keeps the same).
BLOCK_ORDER = (
    "ln1.w",
    "ln1.b",
    "ln2.w",
    "ln2.b",
    "attn.W_Q",
    "attn.W_O",
    "attn.b_Q",
    "attn.b_O",
    "attn.W_K",
    "attn.W_V",
    "attn.b_K",
    "attn.b_V",
    "mlp.W_in",
    "mlp.b_in",
    "mlp.W_out",
    "mlp.b_out",
)


@dataclass(frozen=True)
class ModelShape:
    """Everything a ``HookedTransformerConfig`` needs to hold an imported state (see :meth:`tl_kwargs`)."""

    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_mlp: int
    n_ctx: int
    d_vocab: int
    d_vocab_out: int
    normalization: str | None = None
    act_fn: str = "relu"
    attention_dir: str = "causal"

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "d_head", "d_mlp", "n_ctx", "d_vocab", "d_vocab_out"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model shape: {name} must be a positive integer, got {value!r}")
        if self.normalization not in ("LN", None):
            raise ValueError(f"model shape: normalization must be 'LN' or None, got {self.normalization!r}")
        if self.act_fn not in ACT_FNS:
            raise ValueError(
                f"model shape: act_fn {self.act_fn!r} is not one TransformerLens has; use one of {', '.join(ACT_FNS)}"
            )
        if self.attention_dir not in ATTENTION_DIRS:
            raise ValueError(
                f"model shape: attention_dir must be 'causal' or 'bidirectional', got {self.attention_dir!r}"
            )

    def tl_kwargs(self) -> dict[str, Any]:
        """``HookedTransformerConfig`` keyword arguments of this model (no device, dtype or seed)."""
        return dict(
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            d_model=self.d_model,
            d_head=self.d_head,
            d_mlp=self.d_mlp,
            n_ctx=self.n_ctx,
            d_vocab=self.d_vocab,
            d_vocab_out=self.d_vocab_out,
            act_fn=self.act_fn,
            normalization_type=self.normalization,
            attention_dir=self.attention_dir,
            attn_only=False,
            positional_embedding_type="standard",
        )

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape by grokscope (TransformerLens 3.x) name, in ``named_parameters()`` order."""
        d, h, k, m = self.d_model, self.n_heads, self.d_head, self.d_mlp
        block = {
            "ln1.w": (d,),
            "ln1.b": (d,),
            "ln2.w": (d,),
            "ln2.b": (d,),
            "attn.W_Q": (h, d, k),
            "attn.W_O": (h, k, d),
            "attn.b_Q": (h, k),
            "attn.b_O": (d,),
            "attn.W_K": (h, d, k),
            "attn.W_V": (h, d, k),
            "attn.b_K": (h, k),
            "attn.b_V": (h, k),
            "mlp.W_in": (d, m),
            "mlp.b_in": (m,),
            "mlp.W_out": (m, d),
            "mlp.b_out": (d,),
        }
        ln = self.normalization == "LN"
        shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (self.d_vocab, d), "pos_embed.W_pos": (self.n_ctx, d)}
        for i in range(self.n_layers):
            shapes |= {f"blocks.{i}.{s}": block[s] for s in BLOCK_ORDER if ln or s not in LN_BLOCK}
        if ln:
            shapes |= {"ln_final.w": (d,), "ln_final.b": (d,)}
        return shapes | {"unembed.W_U": (d, self.d_vocab_out), "unembed.b_U": (self.d_vocab_out,)}

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @staticmethod
    def from_dict(d: Any) -> "ModelShape":
        if not isinstance(d, dict):
            raise ValueError("a model shape is a JSON object")
        try:
            return ModelShape(**d)
        except TypeError as e:
            raise ValueError(f"model shape: {e}") from None


__all__ = ["ACT_FNS", "ATTENTION_DIRS", "BLOCK_ORDER", "LN_BLOCK", "ModelShape"]
