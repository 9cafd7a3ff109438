"""A run's checkpoints as the trainers write and resume them: parameters, resume state, manifest.

Shared by the grokking trainer (``loop``) and the character-level one (``lm``). A checkpoint is
two safetensors files, the parameters under ``ckpt/`` and the resume state (AdamW moments as
``"{moment}.{param}"`` plus the trainer's own dot-free entries: sampler, RNG states) under
``resume/``, committed by rewriting the manifest that points at both. Only the newest resume
state is kept.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from grokscope.store.files import load_tensors, save_tensors, write_bytes_atomic, write_json_atomic
from grokscope.store.run import MANIFEST_FILE, METRICS_FILE, metrics_row


def save_checkpoint(path: Path, manifest: dict[str, Any], step: int, params: Mapping[str, Tensor],
                    opt: torch.optim.Optimizer, extra: Mapping[str, Tensor]) -> dict[str, Any]:
    """Parameters, then resume state (moments and ``extra``), then the manifest: returns the new manifest."""
    if any("." in k for k in extra):
        raise ValueError(f"resume-state names must not contain '.': {sorted(extra)}")
    (path / "ckpt").mkdir(exist_ok=True)
    (path / "resume").mkdir(exist_ok=True)
    meta = {"step": str(step)}
    entry = save_tensors(path / "ckpt" / f"step_{step:07d}.safetensors", params, meta) | {"step": step}
    state = dict(extra)
    for name, p in params.items():
        for k, v in opt.state.get(p, {}).items():
            state[f"{k}.{name}"] = v
    resume_entry = save_tensors(path / "resume" / f"state_{step:07d}.safetensors", state, meta) | {"step": step}
    old = manifest.get("resume")
    manifest = {"checkpoints": [e for e in manifest["checkpoints"] if e["step"] < step] + [entry],
                "resume": resume_entry}
    write_json_atomic(path / MANIFEST_FILE, manifest)
    if old and old["file"] != resume_entry["file"]:
        (path / "resume" / old["file"]).unlink(missing_ok=True)
    return manifest


def load_checkpoint(path: Path, manifest: dict[str, Any], start: dict[str, Any], params: Mapping[str, Tensor],
                    opt: torch.optim.Optimizer) -> dict[str, Tensor]:
    """Restore parameters and moments from the checkpoint that ``start`` (a resume entry) names.

    Returns the ``extra`` entries saved with them, for the trainer to restore its sampler and RNGs.
    """
    entry = next(e for e in manifest["checkpoints"] if e["step"] == start["step"])
    weights = load_tensors(path / "ckpt" / entry["file"], entry)
    state = load_tensors(path / "resume" / start["file"], start)
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    for name, p in params.items():
        per_param = {k.split(".", 1)[0]: v.to(p.device) for k, v in state.items()
                     if "." in k and k.split(".", 1)[1] == name}
        if per_param:
            opt.state[p] = per_param
    return {k: v for k, v in state.items() if "." not in k}


def truncate_metrics(path: Path, step: int) -> None:
    """Cut ``metrics.jsonl`` just before its first row at ``step`` or later (a resumed run writes those
    again). Every line before it stays byte for byte, damaged ones included; nothing is rewritten
    when nothing is past ``step``."""
    file = path / METRICS_FILE
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        write_bytes_atomic(file, b"")
        return
    keep, offset = len(data), 0
    for line in data.split(b"\n"):
        row = metrics_row(line)
        if row is not None and row["step"] >= step:
            keep = offset
            break
        offset += len(line) + 1
    if keep < len(data) or not data.endswith(b"\n") and data:
        kept = data[:keep]
        if kept and not kept.endswith(b"\n"):  # a torn last line gets its end, so appends start a line
            kept += b"\n"
        write_bytes_atomic(file, kept)


__all__ = ["load_checkpoint", "save_checkpoint", "truncate_metrics"]
