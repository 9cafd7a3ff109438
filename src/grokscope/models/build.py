"""The one place that touches TransformerLens's model classes: a preset's model, for the installed version.

grokscope keeps every model as a state dict in TransformerLens 3.x's names and layouts
(``models/state.py``): that is what checkpoints hold and what the trainers update. This module
turns such a state into the installed TransformerLens's model and back:

- **3.x**: a ``HookedTransformer``; the state loads as it is.
- **4.x**: a ``TransformerBridge`` booted natively from the same config. Its weights are
  ``nn.Linear``-shaped, so the state is mapped on the way in and out (:func:`to_bridge_state`):
  per-head ``W_Q/W_K/W_V`` ``(h, d, k)`` become ``(h*k, d)`` matrices, ``W_O`` ``(h, k, d)``
  becomes ``(d, h*k)``, ``W_in``, ``W_out`` and ``W_U`` are transposed, LayerNorm ``w``/``b``
  are ``weight``/``bias``. Hook names are the same in both (``blocks.0.mlp.hook_post`` ...), so
  analyses and ablations run unchanged (see ``models/hooks.py`` for the one point that differs).

TransformerLens is imported inside the functions that need it: importing it (and the HF
``transformers`` it pulls in) takes seconds, and the fused trainer never needs it.
"""

import contextlib
import io
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import einops
import torch
from torch import Tensor

from grokscope.models.nanogpt import is_bias
from grokscope.models.presets import NANOGPT_PRESETS, model_kwargs
from grokscope.models.state import initial_state
from grokscope.tasks import Task


@lru_cache(maxsize=1)
def tl_major() -> int:
    """The installed TransformerLens's major version, from package metadata (no import)."""
    from importlib.metadata import version

    return int(version("transformer-lens").split(".")[0])


@contextmanager
def _quiet() -> Iterator[None]:
    # transformer-lens 3.x warns that HookedTransformer goes away in 4.0, once per model built;
    # 4.x's bridge warns about its own compatibility layer. Neither is the user's business here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", module="transformer_lens")
        yield


def tl_config(preset: str, task: Task, *, device: str = "cpu") -> Any:
    """The installed TransformerLens's config of ``preset`` sized for ``task`` (``HookedTransformerConfig``
    on 3.x, ``TransformerBridgeConfig`` on 4.x); no seed, so no global RNG side effects."""
    return _config(model_kwargs(preset, task), device=device)


def _config(kwargs: Mapping[str, Any], *, device: str) -> Any:
    if tl_major() >= 4:
        from transformer_lens import TransformerBridgeConfig

        return TransformerBridgeConfig(**kwargs, device=device)
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(**kwargs, device=device)


def build_model(preset: str, task: Task, *, seed: int | None = 0, device: str = "cpu") -> Any:
    """A freshly initialised model of the installed TransformerLens, in training mode.

    Its weights are :func:`~grokscope.models.state.initial_state` (bit-equal to what TransformerLens
    3.x's own init draws); ``seed`` fixes them without touching the global RNG.
    """
    model = _assemble(preset, task, initial_state(preset, task, seed=seed), device=device)
    return model.train()


def model_from_state(preset: str, task: Task, state: Mapping[str, Tensor], *, device: str = "cpu") -> Any:
    """The installed TransformerLens's model holding ``state`` (a checkpoint's parameters), in eval mode."""
    return _assemble(preset, task, state, device=device).eval()


def model_from_kwargs(kwargs: Mapping[str, Any], state: Mapping[str, Tensor], *, device: str = "cpu") -> Any:
    """The installed TransformerLens's model of explicit ``HookedTransformerConfig`` keyword arguments
    (an imported model's shape, :meth:`grokscope.models.shape.ModelShape.tl_kwargs`) holding ``state``,
    in eval mode."""
    model = _assemble_config(_config(kwargs, device="cpu"), state, device=device, dtype=kwargs.get("dtype"))
    return model.eval()


def final_position(model: Any, tokens: Tensor, *, layer: int = 0) -> tuple[Tensor, Tensor]:
    """``(mlp_post, logits)`` of ``model`` at the last position of every row of ``tokens``:
    ``(batch, d_mlp)`` (the MLP neurons of ``layer``) and ``(batch, d_vocab_out)``."""
    from grokscope.models import hooks

    name = hooks.mlp_post(layer)
    logits, cache = model.run_with_cache(tokens, names_filter=lambda n: n == name)
    return cache[name][:, -1], logits[:, -1]


def _assemble(preset: str, task: Task, state: Mapping[str, Tensor], *, device: str) -> Any:
    model = _assemble_config(tl_config(preset, task, device="cpu"), state, device=device)
    if preset in NANOGPT_PRESETS:  # nanoGPT's bias=False: the model's biases are zero and frozen
        for name, p in model.named_parameters():
            if is_bias(name):
                p.requires_grad_(False)
    return model


def _assemble_config(cfg: Any, state: Mapping[str, Tensor], *, device: str, dtype: torch.dtype | None = None) -> Any:
    if tl_major() >= 4:
        # TransformerLens 4 only; mypy may be looking at 3.x
        from transformer_lens import TransformerBridge  # type: ignore[attr-defined, unused-ignore]

        with _quiet(), contextlib.redirect_stdout(io.StringIO()):  # it announces its device and dtype on stdout
            model = TransformerBridge.boot_native(cfg, device=device)
            if dtype is not None:  # the bridge boots in float32 whatever its config says
                model = model.to(dtype)
    else:
        from transformer_lens import HookedTransformer

        cfg.init_weights = False
        with _quiet():
            model = HookedTransformer(cfg, move_to_device=False)
    load_state_(model, state)
    return model.to(device, print_details=False) if tl_major() < 4 else model


def load_state_(model: Any, state: Mapping[str, Tensor]) -> None:
    """Copy ``state`` (TransformerLens 3.x names) into ``model``'s weights in place.

    Every parameter must be there with its shape: a missing or extra entry is a ``ValueError``.
    """
    mine = to_model_state(model, state)
    target = model.state_dict()
    missing = [k for k in target if k not in mine and not _is_buffer_name(k)]
    unexpected = [k for k in mine if k not in target]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit the model: missing {missing[:4]}, unexpected {unexpected[:4]}")
    wrong = [k for k in mine if tuple(mine[k].shape) != tuple(target[k].shape)]
    if wrong:
        raise ValueError(
            f"checkpoint does not fit the model: {wrong[0]} has shape {tuple(mine[wrong[0]].shape)}, "
            f"the model {tuple(target[wrong[0]].shape)}"
        )
    model.load_state_dict(mine, strict=False)


def _is_buffer_name(name: str) -> bool:
    # Buffers that checkpoints do not hold: causal masks and TransformerLens 3.x's IGNORE constant.
    return name.endswith((".mask", ".IGNORE", "causal_mask"))


def to_model_state(model: Any, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``state`` in the names and layouts of ``model``'s own ``state_dict()`` (differentiable)."""
    if tl_major() < 4:
        return dict(state)
    return to_bridge_state(state)


def model_state(model: Any) -> dict[str, Tensor]:
    """``model``'s parameters in TransformerLens 3.x's names and layouts (the checkpoint format)."""
    sd = model.state_dict()
    if tl_major() < 4:
        return {k: v for k, v in sd.items() if not _is_buffer_name(k)}
    return from_bridge_state({k: v for k, v in sd.items() if not _is_buffer_name(k)}, n_heads=model.cfg.n_heads)


def functional_logits(model: Any, state: Mapping[str, Tensor], tokens: Tensor) -> Tensor:
    """``model(tokens)`` computed with ``state`` (3.x names) as its weights; gradients reach ``state``.

    The trainers keep their parameters as such a state (the checkpoint format) and run the
    model through this, so the same training code serves both TransformerLens versions.
    """
    mine = to_model_state(model, state)
    if tl_major() >= 4:
        # The bridge's parameters have internal names; its state_dict names point at the same tensors.
        names = _bridge_param_names(model)
        mine = {names[k]: v for k, v in mine.items() if k in names}
    return torch.func.functional_call(model, mine, (tokens,))


def _bridge_param_names(model: Any) -> dict[str, str]:
    by_id = {id(t): n for n, t in (*model.named_parameters(), *model.named_buffers())}
    return {k: by_id[id(v)] for k, v in model.state_dict(keep_vars=True).items() if id(v) in by_id}


# TransformerLens 3.x name suffix -> (4.x bridge name suffix, 3.x -> 4.x layout, 4.x -> 3.x layout)
_HEADS_IN = ("h d k -> (h k) d", "(h k) d -> h d k")
_LAYOUT: dict[str, tuple[str, str | None, str | None]] = {
    "attn.W_Q": ("attn.q.weight", *_HEADS_IN),
    "attn.W_K": ("attn.k.weight", *_HEADS_IN),
    "attn.W_V": ("attn.v.weight", *_HEADS_IN),
    "attn.b_Q": ("attn.q.bias", "h k -> (h k)", "(h k) -> h k"),
    "attn.b_K": ("attn.k.bias", "h k -> (h k)", "(h k) -> h k"),
    "attn.b_V": ("attn.v.bias", "h k -> (h k)", "(h k) -> h k"),
    "attn.W_O": ("attn.o.weight", "h k d -> d (h k)", "d (h k) -> h k d"),
    "attn.b_O": ("attn.o.bias", None, None),
    "mlp.W_in": ("mlp.in.weight", "d m -> m d", "m d -> d m"),
    "mlp.b_in": ("mlp.in.bias", None, None),
    "mlp.W_out": ("mlp.out.weight", "m d -> d m", "d m -> m d"),
    "mlp.b_out": ("mlp.out.bias", None, None),
    "ln1.w": ("ln1.weight", None, None),
    "ln1.b": ("ln1.bias", None, None),
    "ln2.w": ("ln2.weight", None, None),
    "ln2.b": ("ln2.bias", None, None),
}
_TOP = {
    "embed.W_E": ("embed.weight", None, None),
    "pos_embed.W_pos": ("pos_embed.weight", None, None),
    "ln_final.w": ("ln_final.weight", None, None),
    "ln_final.b": ("ln_final.bias", None, None),
    "unembed.W_U": ("unembed.weight", "d v -> v d", "v d -> d v"),
    "unembed.b_U": ("unembed.bias", None, None),
}


def _rule(name: str) -> tuple[str, str, str, str | None, str | None]:
    """``(prefix, 3.x suffix, 4.x suffix, 3.x -> 4.x layout, 4.x -> 3.x layout)`` of a 3.x name."""
    if name in _TOP:
        return ("", name, *_TOP[name])
    block, _, rest = name.partition(".")
    index, _, suffix = rest.partition(".")
    if block != "blocks" or suffix not in _LAYOUT:
        raise ValueError(f"no TransformerLens 4.x counterpart for parameter {name!r}")
    return (f"blocks.{index}.", suffix, *_LAYOUT[suffix])


def to_bridge_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """3.x names and layouts -> ``TransformerBridge.state_dict()`` names and layouts."""
    out = {}
    for name, t in state.items():
        prefix, _, new, forward, _ = _rule(name)
        out[prefix + new] = einops.rearrange(t, forward) if forward else t
    return out


def from_bridge_state(state: Mapping[str, Tensor], *, n_heads: int) -> dict[str, Tensor]:
    """``TransformerBridge.state_dict()`` names and layouts -> 3.x names and layouts (the inverse)."""
    back = {new: (old, inverse) for old, (new, _, inverse) in {**_LAYOUT, **_TOP}.items()}
    out = {}
    for name, t in state.items():
        prefix, suffix = "", name
        if name.startswith("blocks."):
            block, index, suffix = name.split(".", 2)
            prefix = f"{block}.{index}."
        if suffix not in back:
            raise ValueError(f"no TransformerLens 3.x counterpart for bridge parameter {name!r}")
        old, inverse = back[suffix]
        out[prefix + old] = t if inverse is None else einops.rearrange(t, inverse, **_axes(inverse, n_heads))
    return dict(sorted(out.items(), key=lambda kv: _order(kv[0])))


# TransformerLens 3.x's named_parameters() order: the embeddings, each block, the final LayerNorm, W_U.
_BLOCK_ORDER = (
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
_TOP_ORDER = ("embed.W_E", "pos_embed.W_pos", "ln_final.w", "ln_final.b", "unembed.W_U", "unembed.b_U")


def _order(name: str) -> tuple[int, int, int]:
    if name.startswith("blocks."):
        _, index, suffix = name.split(".", 2)
        return (1, int(index), _BLOCK_ORDER.index(suffix))
    rank = _TOP_ORDER.index(name)
    return (0 if rank < 2 else 2, 0, rank)


def _axes(rule: str, heads: int) -> dict[str, int]:
    # Only the way back splits a merged (h k) axis, which needs the number of heads.
    return {"h": heads} if "(h k)" in rule.split("->")[0] else {}


__all__ = [
    "build_model",
    "final_position",
    "from_bridge_state",
    "functional_logits",
    "load_state_",
    "model_from_kwargs",
    "model_from_state",
    "model_state",
    "tl_config",
    "tl_major",
    "to_bridge_state",
]
