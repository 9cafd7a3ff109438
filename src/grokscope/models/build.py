"""The one place that imports ``HookedTransformer``: configs and models from presets.

TransformerLens is imported inside the functions that need it: importing it (and the HF
``transformers`` it pulls in) is ~5 s, half of a training command's start-up, and the fused
trainer only needs the initial parameters (``initial_params``).
"""

import math
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from grokscope.models.nanogpt import freeze_biases_, nanogpt_init_, nanogpt_param_count
from grokscope.models.grok1l.params import param_shapes
from grokscope.models.grok1l.paths import supports
from grokscope.models.presets import NANOGPT_PRESETS, model_kwargs
from grokscope.tasks import Task

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer, HookedTransformerConfig


@contextmanager
def _quiet_deprecation() -> Iterator[None]:
    # transformer-lens 3.x warns that HookedTransformer goes away in 4.0; we pin <4 on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
        yield


def tl_config(preset: str, task: Task, *, device: str = "cpu") -> "HookedTransformerConfig":
    """The ``HookedTransformerConfig`` of ``preset`` sized for ``task`` (no seed: no global RNG side effects)."""
    from transformer_lens import HookedTransformerConfig

    return HookedTransformerConfig(**model_kwargs(preset, task), device=device)


def build_model(preset: str, task: Task, *, seed: int | None = 0, device: str = "cpu") -> "HookedTransformer":
    """A freshly initialised model; ``seed`` fixes the init without touching the global RNG."""
    from transformer_lens import HookedTransformer

    cfg = tl_config(preset, task, device=device)
    with torch.random.fork_rng(devices=[]), _quiet_deprecation():
        if seed is not None:
            torch.manual_seed(seed)
        model = HookedTransformer(cfg, move_to_device=False)
    if preset in NANOGPT_PRESETS:
        nanogpt_init_(model, torch.Generator().manual_seed(0 if seed is None else seed))
        freeze_biases_(model)
    return model.to(device, print_details=False)


def initial_params(preset: str, task: Task, *, seed: int = 0) -> dict[str, Tensor]:
    """The parameters ``build_model(preset, task, seed=seed)`` starts from, without TransformerLens.

    For the models of :func:`grokscope.models.grok1l.paths.supports` (tested equal to
    ``build_model``'s state, bit for bit): TransformerLens's "gpt2" init draws every ``W_`` tensor
    from N(0, (0.8 / sqrt(d_model))^2) in ``named_parameters`` order from the seeded global RNG,
    and leaves the biases at zero. Returned in that order, as plain float32 tensors.
    """
    kw = model_kwargs(preset, task)
    if not supports(kw):
        raise ValueError(f"initial_params covers the 1-layer grokking model only, not {preset!r} on {task.name}: "
                         "use build_model")
    shapes = param_shapes(**{k: kw[k] for k in ("d_vocab", "d_vocab_out", "n_ctx", "n_heads", "d_model", "d_head",
                                                "d_mlp")})
    std = 0.8 / math.sqrt(kw["d_model"])
    params = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, shape in shapes.items():
            params[name] = torch.zeros(shape) if "W_" not in name else torch.empty(shape).normal_(0.0, std)
    return params


def model_from_state(preset: str, task: Task, state: Mapping[str, Tensor], *,
                     device: str = "cpu") -> "HookedTransformer":
    """A ``HookedTransformer`` holding ``state`` (a checkpoint's parameters)."""
    from transformer_lens import HookedTransformer

    cfg = tl_config(preset, task, device=device)
    cfg.init_weights = False
    with _quiet_deprecation():
        model = HookedTransformer(cfg, move_to_device=False)
    missing, unexpected = model.load_state_dict(dict(state), strict=False)
    # Only buffers (causal masks, IGNORE) are absent from checkpoints.
    missing = [k for k in missing if not k.endswith((".mask", ".IGNORE"))]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit preset {preset!r}: missing {missing}, unexpected {unexpected}")
    if preset in NANOGPT_PRESETS:
        freeze_biases_(model)
    return model.to(device, print_details=False).eval()


def _meta_model(preset: str, task: Task) -> "HookedTransformer":
    from transformer_lens import HookedTransformer

    cfg = tl_config(preset, task, device="meta")
    cfg.init_weights = False
    with torch.device("meta"), _quiet_deprecation():
        return HookedTransformer(cfg, move_to_device=False)


def count_params(preset: str, task: Task) -> int:
    """Parameters of the ``HookedTransformer``, counted the TransformerLens way: every tensor
    (biases, frozen or not, the separate ``W_U`` and the position embeddings included)."""
    return sum(p.numel() for p in _meta_model(preset, task).parameters())


def count_params_nanogpt(preset: str, task: Task) -> int:
    """Parameters counted nanoGPT's way (no biases, tied ``W_U`` once, no position embeddings):
    the convention of "Too Big to Think"'s tables."""
    return nanogpt_param_count(_meta_model(preset, task))
