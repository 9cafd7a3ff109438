"""Which computation of the model runs: the one predicate and the one choice, recorded in ``run.json``.

Three forwards compute the same logits (tested equal in ``tests/models/grok1l/test_parity.py``):

- ``"fused"``: per-token tables in PyTorch, the per-example gather in numba kernels, and the
  training step's backward written out by hand (``fused.py``, ``backward.py``). CPU only.
- ``"final_position"``: the same tables and gathers as plain PyTorch ops with autograd
  (``final_position.py``); any device.
- ``"hooked"``: ``HookedTransformer`` itself, for any model (``models/build.py``).

The first two apply only where :func:`supports` holds.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch

ForwardPath = Literal["fused", "final_position", "hooked"]

# Every config field the fast forwards depend on, with the value they need. A field a config
# does not set takes TransformerLens's default, which is the value needed for all but the first four.
_NEEDED: Mapping[str, Any] = {
    "n_layers": 1,
    "n_ctx": 3,
    "normalization_type": None,
    "act_fn": "relu",
    "attn_only": False,
    "positional_embedding_type": "standard",
    "use_attn_scale": True,
    "gated_mlp": False,
    "attention_dir": "causal",
    "use_split_qkv_input": False,
    "parallel_attn_mlp": False,
}
_TL_DEFAULTS = (
    "attn_only",
    "positional_embedding_type",
    "use_attn_scale",
    "gated_mlp",
    "attention_dir",
    "use_split_qkv_input",
    "parallel_attn_mlp",
)


def supports(cfg: Mapping[str, Any] | Any) -> bool:
    """Whether the fast forwards compute what ``HookedTransformer(cfg)`` computes.

    ``cfg`` is a ``HookedTransformerConfig`` or the keyword arguments of one (a preset's, sized
    for a task: :func:`grokscope.models.presets.model_kwargs`).
    """
    get = cfg.get if isinstance(cfg, Mapping) else (lambda k, d=None: getattr(cfg, k, d))
    for key, needed in _NEEDED.items():
        value = get(key, needed if key in _TL_DEFAULTS else object())
        if value != needed:
            return False
    return True


def choose_path(cfg: Mapping[str, Any] | Any, *, device: "str | torch.device", fast: bool = True) -> ForwardPath:
    """The forward a run of ``cfg`` on ``device`` trains with: the fastest one that applies."""
    if not (fast and supports(cfg)):
        return "hooked"
    return "fused" if fused_available(device) else "final_position"


def fused_available(device: "str | torch.device") -> bool:
    """Whether the numba kernels can run here (a CPU device and numba importable); ``device`` as a
    name or a ``torch.device`` (``tensor.device``)."""
    import torch

    if torch.device(device).type != "cpu":
        return False
    try:
        import grokscope.models.grok1l.gather_kernels  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["ForwardPath", "choose_path", "fused_available", "supports"]
