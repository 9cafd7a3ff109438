"""Start a run from a local TransformerLens model folder instead of a random init (``--init-from DIR``).

The folder holds ``config.json`` (``HookedTransformerConfig`` fields: at least the preset's
architecture keys, ``d_vocab`` and ``n_ctx``; optionally ``chars``, the character of each token)
and one ``*.safetensors`` state dict by TransformerLens parameter name. Pretrained weights
(DistilGPT-2 in the blog) cannot be downloaded here, but any model saved this way can seed a run,
e.g. one exported from another run with :func:`save_init_folder`.

How the folder's tensors are fitted to the run's model:

- the architecture (layers, widths, heads, activation, normalisation) must equal the preset's;
- the token axes of ``W_E``/``W_U``/``b_U`` are re-indexed by character when the folder names its
  ``chars``: every character the task uses must be among them (else an error names the missing
  ones); without ``chars`` the vocabulary must have the task's size;
- ``W_pos`` keeps its first ``n_ctx`` rows (a longer context is fine, a shorter one an error).

Nothing is unpickled: the config is JSON, the weights safetensors.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from grokscope.models.presets import PRESETS, check_preset

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
ARCH_KEYS = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "act_fn", "normalization_type")
# Parameters with a token axis, and which axis it is.
TOKEN_AXIS = {"embed.W_E": 0, "unembed.W_U": 1, "unembed.b_U": 0}


def read_init_folder(folder: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The folder's config and state dict (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--init-from {folder}: not a folder (need {CONFIG_FILE} and a .safetensors state dict)")
    try:
        cfg = json.loads((folder / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise ValueError(f"--init-from {folder}: no {CONFIG_FILE} (HookedTransformerConfig fields as JSON)") from None
    except ValueError as e:
        raise ValueError(f"--init-from {folder}: {CONFIG_FILE} is not valid JSON ({e})") from None
    weights = sorted(folder.glob("*.safetensors"))
    if len(weights) != 1:
        raise ValueError(f"--init-from {folder}: need exactly one .safetensors state dict, found {len(weights)}")
    try:
        state = load_file(str(weights[0]))
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise ValueError(f"--init-from {folder}: cannot read {weights[0].name} ({e})") from None
    return cfg, state


def preset_for(cfg: Mapping[str, Any]) -> str:
    """The preset whose architecture the folder's config has."""
    for name, kw in PRESETS.items():
        if all(cfg.get(k) == kw[k] for k in ARCH_KEYS):
            return name
    arch = ", ".join(f"{k}={cfg.get(k)!r}" for k in ARCH_KEYS)
    raise ValueError(f"--init-from: no preset has this architecture ({arch}); see `grokscope models`")


def init_state(folder: str | Path, preset: str | None, task: Any) -> tuple[str, dict[str, Tensor]]:
    """The preset (``preset``, or the one matching the folder) and the state dict fitted to ``task``."""
    cfg, state = read_init_folder(folder)
    preset = preset_for(cfg) if preset is None else check_preset(preset)
    want = PRESETS[preset]
    bad = [f"{k}: folder {cfg.get(k)!r}, preset {want[k]!r}" for k in ARCH_KEYS if cfg.get(k) != want[k]]
    if bad:
        raise ValueError(f"--init-from {folder} does not have preset {preset}'s architecture ({bad[0]})")
    return preset, fit_state(state, cfg, task, preset)


def fit_state(state: Mapping[str, Tensor], cfg: Mapping[str, Any], task: Any, preset: str) -> dict[str, Tensor]:
    """Re-index token axes by character and crop positions so ``state`` fits ``preset`` on ``task``."""
    from grokscope.models.state import initial_state

    target = initial_state(preset, task, seed=0)
    chars = cfg.get("chars")
    if chars is not None:
        missing = sorted(set(task.vocab.chars) - set(chars))
        if missing:
            raise ValueError(
                f"--init-from: the model's vocabulary lacks characters the task needs: {''.join(missing)!r}"
            )
        index = torch.tensor([chars.index(c) for c in task.vocab.chars])
    out: dict[str, Tensor] = {}
    for name, t in target.items():
        if name.endswith((".mask", ".IGNORE")):
            continue
        if name not in state:
            raise ValueError(f"--init-from: the state dict has no {name}")
        src = state[name]
        if name in TOKEN_AXIS and chars is not None:
            src = src.index_select(TOKEN_AXIS[name], index)
        if name == "pos_embed.W_pos" and src.shape[0] > t.shape[0]:
            src = src[: t.shape[0]]  # positions beyond the task's context are never used
        if src.shape != t.shape:
            raise ValueError(
                f"--init-from: {name} has shape {tuple(src.shape)} but the model needs "
                f"{tuple(t.shape)}"
                + (
                    " (save the vocabulary as 'chars' in config.json to re-index it by character)"
                    if name in TOKEN_AXIS
                    else ""
                )
            )
        out[name] = src.to(t.dtype).clone()
    return out


def save_init_folder(model: Any, folder: str | Path, *, chars: str | None = None) -> Path:
    """Write ``model`` (a TransformerLens model of either version) as an init folder: the config
    fields that define its architecture and vocabulary, and its weights by TransformerLens 3.x name."""
    from grokscope.models.build import model_state

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {k: getattr(model.cfg, k) for k in (*ARCH_KEYS, "d_vocab", "d_vocab_out", "n_ctx")}
    if chars is not None:
        cfg["chars"] = chars
    (folder / CONFIG_FILE).write_text(json.dumps(cfg, indent=1, sort_keys=True))
    save_file({k: v.detach().contiguous().clone() for k, v in model_state(model).items()}, str(folder / WEIGHTS_FILE))
    return folder


__all__ = ["fit_state", "init_state", "preset_for", "read_init_folder", "save_init_folder"]
