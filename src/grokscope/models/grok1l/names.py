"""The grokking model's state-dict names, spelled once (torch-free, so metadata readers can use them).

:class:`~grokscope.models.grok1l.params.Grok1LParams` reads and writes state dicts through these.
"""

from types import MappingProxyType

# field -> TransformerLens state-dict name, in named_parameters() order.
STATE_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {
        "W_E": "embed.W_E",
        "W_pos": "pos_embed.W_pos",
        "W_Q": "blocks.0.attn.W_Q",
        "W_O": "blocks.0.attn.W_O",
        "b_Q": "blocks.0.attn.b_Q",
        "b_O": "blocks.0.attn.b_O",
        "W_K": "blocks.0.attn.W_K",
        "W_V": "blocks.0.attn.W_V",
        "b_K": "blocks.0.attn.b_K",
        "b_V": "blocks.0.attn.b_V",
        "W_in": "blocks.0.mlp.W_in",
        "b_in": "blocks.0.mlp.b_in",
        "W_out": "blocks.0.mlp.W_out",
        "b_out": "blocks.0.mlp.b_out",
        "W_U": "unembed.W_U",
        "b_U": "unembed.b_U",
    }
)

# field -> the weight group the progress measures report its squared norm under.
COMPONENTS: MappingProxyType[str, str] = MappingProxyType(
    {
        "W_E": "embed",
        "W_pos": "pos_embed",
        "W_U": "unembed",
        "b_U": "unembed",
        **{f: "attn" for f in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O")},
        **{f: "mlp" for f in ("W_in", "b_in", "W_out", "b_out")},
    }
)

__all__ = ["COMPONENTS", "STATE_NAMES"]
