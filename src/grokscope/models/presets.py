"""Model presets as data: keyword arguments for ``HookedTransformerConfig``.

The task supplies ``d_vocab``, ``d_vocab_out`` and ``n_ctx``; everything else is here.
"""

from types import MappingProxyType
from typing import Any, Literal, get_args

Preset = Literal["grok1l", "power2l", "n14", "n28", "n56", "mlt"]
PRESET_NAMES: tuple[str, ...] = get_args(Preset)


def _n_model(n: int) -> dict:
    # "Too Big to Think": 1 layer, 1 head, MLP width m*n with m = 1. nanoGPT's block: pre-LN,
    # exact (erf) GELU as nn.GELU(), LayerNorm eps 1e-5 (TL's default too).
    return dict(n_layers=1, n_heads=1, d_model=n, d_head=n, d_mlp=n, act_fn="gelu", normalization_type="LN")


PRESETS: MappingProxyType[str, dict] = MappingProxyType(
    {
        # Nanda et al. 2023: the modular-addition grokking model.
        "grok1l": dict(
            n_layers=1, n_heads=4, d_model=128, d_head=32, d_mlp=512, act_fn="relu", normalization_type=None
        ),
        # Power et al. 2022: 2 layers, width 128, 4 heads (LayerNorm, GELU as in a standard decoder).
        "power2l": dict(
            n_layers=2, n_heads=4, d_model=128, d_head=32, d_mlp=512, act_fn="gelu_new", normalization_type="LN"
        ),
        "n14": _n_model(14),
        "n28": _n_model(28),
        "n56": _n_model(56),
        # Barron & White's "MLT": 6 layers, 6 heads, 384 wide, MLP 4x.
        "mlt": dict(n_layers=6, n_heads=6, d_model=384, d_head=64, d_mlp=1536, act_fn="gelu", normalization_type="LN"),
    }
)

# Presets built the nanoGPT way (see models/nanogpt.py): biases zero and frozen, W_U tied to
# W_E.T, nanoGPT's init. The paper's parameter counts are those of these models.
NANOGPT_PRESETS: frozenset[str] = frozenset({"n14", "n28", "n56", "mlt"})

PRESET_NOTES: MappingProxyType[str, str] = MappingProxyType(
    {
        "grok1l": "1 layer, 4 heads, d_model 128, d_mlp 512, ReLU, no LayerNorm (Nanda et al. 2023)",
        "power2l": "2 layers, 4 heads, d_model 128, d_mlp 512, LayerNorm (Power et al. 2022)",
        "n14": "1 layer, 1 head, d_model 14, MLP 1x, nanoGPT-style (Barron & White 2025)",
        "n28": "1 layer, 1 head, d_model 28, MLP 1x, nanoGPT-style (Barron & White 2025)",
        "n56": "1 layer, 1 head, d_model 56, MLP 1x, nanoGPT-style (Barron & White 2025)",
        "mlt": "6 layers, 6 heads, d_model 384, MLP 4x, nanoGPT-style (Barron & White 2025)",
    }
)


def check_preset(name: str) -> str:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}: choose one of {', '.join(PRESET_NAMES)}")
    return name


def model_kwargs(preset: str, task: Any) -> dict[str, Any]:
    """``HookedTransformerConfig`` keyword arguments of ``preset`` sized for ``task`` (its vocabularies
    and context), without importing TransformerLens."""
    return dict(PRESETS[check_preset(preset)], d_vocab=task.d_vocab, d_vocab_out=task.d_vocab_out, n_ctx=task.n_ctx)
