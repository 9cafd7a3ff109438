"""The one place that imports ``HookedTransformer``: configs and models from presets."""

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor
from transformer_lens import HookedTransformer, HookedTransformerConfig

from grokscope.models.nanogpt import freeze_biases_, nanogpt_init_, nanogpt_param_count
from grokscope.models.presets import NANOGPT_PRESETS, PRESETS, check_preset
from grokscope.tasks import Task


@contextmanager
def _quiet_deprecation() -> Iterator[None]:
    # transformer-lens 3.x warns that HookedTransformer goes away in 4.0; we pin <4 on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
        yield


def tl_config(preset: str, task: Task, *, device: str = "cpu") -> HookedTransformerConfig:
    """The ``HookedTransformerConfig`` of ``preset`` sized for ``task`` (no seed: no global RNG side effects)."""
    kwargs = dict(PRESETS[check_preset(preset)])
    return HookedTransformerConfig(
        **kwargs,
        d_vocab=task.d_vocab,
        d_vocab_out=task.d_vocab_out,
        n_ctx=task.n_ctx,
        device=device,
    )


def build_model(preset: str, task: Task, *, seed: int | None = 0, device: str = "cpu") -> HookedTransformer:
    """A freshly initialised model; ``seed`` fixes the init without touching the global RNG."""
    cfg = tl_config(preset, task, device=device)
    with torch.random.fork_rng(devices=[]), _quiet_deprecation():
        if seed is not None:
            torch.manual_seed(seed)
        model = HookedTransformer(cfg, move_to_device=False)
    if preset in NANOGPT_PRESETS:
        nanogpt_init_(model, torch.Generator().manual_seed(0 if seed is None else seed))
        freeze_biases_(model)
    return model.to(device, print_details=False)


def model_from_state(preset: str, task: Task, state: Mapping[str, Tensor], *, device: str = "cpu") -> HookedTransformer:
    """A ``HookedTransformer`` holding ``state`` (a checkpoint's parameters)."""
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


def _meta_model(preset: str, task: Task) -> HookedTransformer:
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
