"""Read a model trained elsewhere from its files into checkpoints and curves, never unpickling.

Torch files are read with ``torch.load(..., weights_only=True)`` only: tensors, dicts, lists and
numbers load, any other object (a pickled config class, numpy arrays) is refused, since
unpickling runs code from the file. Formats (:func:`read_source`):

a. a folder with ``config.json`` (``HookedTransformerConfig`` fields as JSON, optional) and one
   ``.safetensors`` file, or several (a series: the epoch is the last number in each file name);
b. a single ``.safetensors`` file;
c. a torch file holding a state dict;
d. a torch file holding a whole run: the TransformerLens grokking demo's
   (``demos/Grokking_Demo.ipynb``: ``model``, ``config``, ``checkpoints``, ``checkpoint_epochs``,
   ``train_losses``, ``test_losses``, ``train_indices``, ``test_indices``; its ``config`` is a
   pickled ``HookedTransformerConfig``, so save it without that) or Nanda et al.'s
   ``full_run_data.pth`` (``state_dicts``, ``epochs``, ``train_losses``, ``test_losses``), or one
   epoch of the progress-measures trainer (``model``, ``epoch``, ``train_loss``/``train_losses``...);
e. a folder of per-epoch torch files ``{epoch}.pth`` (or ``.pt``), each a bare state dict or a
   dict with ``model`` (the progress-measures trainer's run folder). Its ``final.pth`` gives the
   loss curves; files without an epoch number (``init.pth``, the state before training) are not
   part of the series.

Curves are kept as the source logged them (the demo: one loss per epoch; ``full_run_data``: test
losses every 10 epochs).
"""

import json
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor

from grokscope.imports.layouts import detect_layout

_TORCH_SUFFIXES = (".pth", ".pt")
_CHECKPOINT_KEYS = ("checkpoints", "state_dicts")
_EPOCH_KEYS = ("checkpoint_epochs", "epochs")


@dataclass(frozen=True)
class Source:
    """A source's checkpoints ``(epoch or None, state dict)`` in epoch order, with what else it saved."""

    states: list[tuple[int | None, dict[str, Tensor]]]
    config: dict[str, Any] | None
    train_losses: list[float] | None
    test_losses: list[float] | None
    train_indices: list[int] | None
    test_indices: list[int] | None
    layout: str


def read_source(path: str | Path) -> Source:
    """The checkpoints, config and curves saved at ``path`` (a file or folder; formats in the module docstring)."""
    src = Path(path)
    if src.is_dir():
        return _read_folder(src)
    if not src.is_file():
        raise ValueError(f"{src} does not exist: give a .safetensors or torch file, or a folder of them")
    if src.suffix == ".safetensors":
        return _source([(None, _safetensors(src))], src)
    return _from_object(_torch_load(src), src, config=None)


def _read_folder(folder: Path) -> Source:
    config = _config(folder / "config.json")
    tensors = sorted(folder.glob("*.safetensors"))
    torches = sorted(p for p in folder.iterdir() if p.suffix in _TORCH_SUFFIXES and p.is_file())
    if tensors and torches:
        raise ValueError(f"{folder} holds both .safetensors and torch files: keep one series in the folder")
    if len(tensors) == 1:
        return _source([(None, _safetensors(tensors[0]))], folder, config=config)
    if tensors:
        return _source([(_number_in_name(p), _safetensors(p)) for p in tensors], folder, config=config)
    series = [p for p in torches if p.stem.isdigit()]
    if not series and len(torches) == 1:
        return _from_object(_torch_load(torches[0]), torches[0], config=config)
    if not series:
        raise ValueError(f"{folder} holds no .safetensors file and no per-epoch torch files ({{epoch}}.pth)")
    states: list[tuple[int | None, dict[str, Tensor]]] = [(int(p.stem), _epoch_file(p)) for p in series]
    final = folder / "final.pth"
    curves = _curves(_torch_load(final)) if final.is_file() else {}
    return _source(states, folder, config=config, **curves)


def _epoch_file(path: Path) -> dict[str, Tensor]:
    obj = _torch_load(path)
    if isinstance(obj, Mapping) and "model" in obj:
        saved = obj.get("epoch")
        if isinstance(saved, int) and saved != int(path.stem):
            raise ValueError(
                f"{path} says it is epoch {saved}, its name says {int(path.stem)}: rename it or fix the series"
            )
        obj = obj["model"]
    return _state(obj, path)


def _from_object(obj: Any, path: Path, *, config: dict[str, Any] | None) -> Source:
    """A loaded torch file's checkpoints and curves: a state dict, a run dict, or one epoch's dict."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state dict or a run dict")
    if obj and all(isinstance(v, Tensor) for v in obj.values()):
        return _source([(None, _state(obj, path))], path, config=config)
    curves = _curves(obj)
    config = obj["config"] if isinstance(obj.get("config"), Mapping) else config
    key = next((k for k in _CHECKPOINT_KEYS if k in obj), None)
    if key is not None:
        return _source(_run_states(obj, key, path), path, config=config, **curves)
    if "model" in obj:
        epoch = obj.get("epoch")
        epoch = epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None
        return _source([(epoch, _state(obj["model"], path))], path, config=config, **curves)
    raise ValueError(
        f"{path} holds a dict with keys {_keys(obj)}: neither a state dict nor a run "
        f"(model, checkpoints/state_dicts with checkpoint_epochs/epochs)"
    )


def _run_states(obj: Mapping[str, Any], key: str, path: Path) -> list[tuple[int | None, dict[str, Tensor]]]:
    """A run dict's checkpoints with their epochs; its final ``model`` too when it is not the last checkpoint."""
    checkpoints = obj[key]
    epochs_key = next((k for k in _EPOCH_KEYS if k in obj), None)
    if epochs_key is None:
        raise ValueError(f"{path} holds {key} but no checkpoint_epochs or epochs to date them")
    epochs = [_epoch(e, path) for e in obj[epochs_key]]
    if not isinstance(checkpoints, list) or len(checkpoints) != len(epochs):
        raise ValueError(f"{path} holds {_length(checkpoints)} {key} but {len(epochs)} {epochs_key}: they must pair up")
    states: list[tuple[int | None, dict[str, Tensor]]] = [(e, _state(s, path)) for e, s in zip(epochs, checkpoints)]
    final = obj.get("model")
    if final is not None and not (states and _same(_state(final, path), states[-1][1])):
        states.append((None, _state(final, path)))  # the final model, its epoch not recorded
    return states


def _source(
    states: list[tuple[int | None, dict[str, Tensor]]],
    path: Path,
    *,
    config: dict[str, Any] | None = None,
    **curves: Any,
) -> Source:
    epochs = [e for e, _ in states if e is not None]
    seen: set[int] = set()
    for e in epochs:
        if e in seen:
            raise ValueError(f"{path} holds two checkpoints of epoch {e}: keep one of them")
        seen.add(e)
    states = sorted(states, key=lambda es: (es[0] is None, es[0] or 0))
    layouts = [(e, detect_layout(s)) for e, s in states]
    layout = layouts[0][1]
    odd = [(e, lay) for e, lay in layouts if lay != layout]
    if odd:
        raise ValueError(
            f"{path}: the checkpoint of epoch {odd[0][0]} is in the {odd[0][1]} layout, "
            f"the first in {layout}: one source holds one model"
        )
    return Source(
        states=states,
        config=config,
        layout=layout,
        train_losses=curves.get("train_losses"),
        test_losses=curves.get("test_losses"),
        train_indices=curves.get("train_indices"),
        test_indices=curves.get("test_indices"),
    )


def _curves(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        return {}
    found: dict[str, Any] = {}
    for name in ("train_losses", "test_losses"):
        if name in obj:
            found[name] = [float(x) for x in _flat(obj[name], name)]
    for name in ("train_indices", "test_indices"):
        if name in obj:
            found[name] = [int(x) for x in _flat(obj[name], name)]
    return found


def _flat(values: Any, name: str) -> list[Any]:
    if isinstance(values, Tensor):
        return values.reshape(-1).tolist()
    if isinstance(values, (list, tuple)):
        return [v.item() if isinstance(v, Tensor) else v for v in values]
    raise ValueError(f"{name} is a {type(values).__name__}, not a list or tensor of numbers")


def _state(obj: Any, path: Path) -> dict[str, Tensor]:
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path} holds a model entry that is not a state dict (names to tensors)")
    return {str(k): v for k, v in obj.items()}


def _same(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _epoch(value: Any, path: Path) -> int:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{path} has epoch {value!r}: epochs must be non-negative integers")
    return value


def _number_in_name(path: Path) -> int:
    numbers = re.findall(r"\d+", path.stem)
    if not numbers:
        raise ValueError(f"{path.name} has no epoch number in its name: a series of files needs one in each")
    return int(numbers[-1])


def _safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(path, device="cpu")
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise ValueError(f"{path} is not a safetensors file it can read ({_first_line(exc)})") from None


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise ValueError(f"{path} is not a torch file that loads without pickle: {_first_line(exc)}") from None
        full = found.group(1)
        raise ValueError(
            f"{path} needs pickle to load (it holds a {full.rsplit('.', 1)[-1]} object, {full}); "
            f"save its state_dict (and the config as JSON) instead"
        ) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a torch file torch.load can read: {_first_line(exc)}") from None


def _config(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} holds a JSON {type(config).__name__}, not an object of config fields")
    return config


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _keys(obj: Mapping[str, Any], most: int = 8) -> str:
    keys = [str(k) for k in obj]
    return ", ".join(keys[:most]) + (f" ... and {len(keys) - most} more" if len(keys) > most else "")


def _length(value: Any) -> str:
    return str(len(value)) if isinstance(value, (list, tuple)) else f"a {type(value).__name__} of"


__all__ = ["Source", "read_source"]
