"""A run's checkpoints as the trainers write and resume them: parameters, resume state, manifest.

Shared by the grokking trainer (``modular``) and the character-level one (``lm``). A checkpoint is
two safetensors files, the parameters under ``ckpt/`` and the resume state (AdamW moments as
``"{moment}.{param}"`` plus the trainer's own dot-free entries: sampler, RNG states) under
``resume/``, committed by rewriting the manifest that points at both. The two newest resume
states are kept, so that a damaged newest checkpoint can be resumed from the one before.
"""

from collections.abc import Mapping

import torch
from torch import Tensor

from grokscope.store.files import CorruptCheckpointError, load_tensors, save_tensors
from grokscope.store.folder import RunFolder
from grokscope.store.records import (
    CKPT_DIR,
    MANIFEST_FILE,
    METRICS_FILE,
    RESUME_DIR,
    FileEntry,
    Manifest,
    checkpoint_name,
    resume_name,
)
from grokscope.store.run import metrics_row

KEEP_RESUME_STATES = 2


def save_checkpoint(
    folder: RunFolder,
    manifest: Manifest,
    step: int,
    params: Mapping[str, Tensor],
    opt: torch.optim.Optimizer,
    extra: Mapping[str, Tensor],
) -> Manifest:
    """Parameters, then resume state (moments and ``extra``), then the manifest: returns the new manifest."""
    if any("." in k for k in extra):
        raise ValueError(f"resume-state names must not contain '.': {sorted(extra)}")
    meta = {"step": str(step)}
    ckpt = FileEntry(
        checkpoint_name(step), *save_tensors(folder, (CKPT_DIR, checkpoint_name(step)), params, meta), step
    )
    state = dict(extra)
    for name, p in params.items():
        for k, v in opt.state.get(p, {}).items():
            state[f"{k}.{name}"] = v
    resume = FileEntry(resume_name(step), *save_tensors(folder, (RESUME_DIR, resume_name(step)), state, meta), step)
    kept = tuple(r for r in manifest.resume if r.step < step)[-(KEEP_RESUME_STATES - 1) :] + (resume,)
    new = Manifest(tuple(e for e in manifest.checkpoints if e.step < step) + (ckpt,), kept)
    folder.write_json(MANIFEST_FILE, obj=new.to_json())
    for old in manifest.resume:
        if old not in kept:
            folder.unlink(RESUME_DIR, old.file)
    return new


def load_checkpoint(
    folder: RunFolder, manifest: Manifest, start: FileEntry, params: Mapping[str, Tensor], opt: torch.optim.Optimizer
) -> dict[str, Tensor]:
    """Restore parameters and moments from the checkpoint that ``start`` (a resume entry) names.

    Both files are read and verified before anything is restored (``CorruptCheckpointError`` when
    one is damaged). Returns the ``extra`` entries saved with them, for the trainer to restore its
    sampler and RNGs.
    """
    entry = manifest.checkpoint(start.step)
    if entry is None:
        raise CorruptCheckpointError(f"{folder.path(MANIFEST_FILE)}: no checkpoint at step {start.step}")
    weights = load_tensors(folder, (CKPT_DIR, entry.file), entry)
    state = load_tensors(folder, (RESUME_DIR, start.file), start)
    missing = [name for name in params if name not in weights]
    if missing:
        raise CorruptCheckpointError(f"{folder.path(CKPT_DIR, entry.file)}: no {missing[0]}")
    with torch.no_grad():
        for name, p in params.items():
            if weights[name].shape != p.shape:
                raise CorruptCheckpointError(
                    f"{folder.path(CKPT_DIR, entry.file)}: {name} has shape "
                    f"{tuple(weights[name].shape)}, the model {tuple(p.shape)}"
                )
            p.copy_(weights[name])
    moments: dict[Tensor, dict[str, Tensor]] = {}
    for name, p in params.items():
        per_param = {k.split(".", 1)[0]: v for k, v in state.items() if "." in k and k.split(".", 1)[1] == name}
        for moment, v in per_param.items():  # the fused optimizer writes through these: shapes must fit
            want = () if moment == "step" else tuple(p.shape)
            if tuple(v.shape) != want or not v.dtype.is_floating_point:
                raise CorruptCheckpointError(
                    f"{folder.path(RESUME_DIR, start.file)}: {moment}.{name} has shape "
                    f"{tuple(v.shape)} ({v.dtype}), the parameter needs {want}"
                )
        if per_param:
            moments[p] = {k: v.to(p.device) for k, v in per_param.items()}
    for p, per_param in moments.items():
        opt.state[p] = per_param
    return {k: v for k, v in state.items() if "." not in k}


def truncate_metrics(folder: RunFolder, step: int) -> None:
    """Cut ``metrics.jsonl`` just before its first row at ``step`` or later (a resumed run writes those
    again). Every line before it stays byte for byte, damaged ones included; nothing is rewritten
    when nothing is past ``step``."""
    try:
        data = folder.read_bytes(METRICS_FILE)
    except FileNotFoundError:
        folder.write_bytes(METRICS_FILE, data=b"")
        return
    keep, offset = len(data), 0
    for line in data.split(b"\n"):
        row = metrics_row(line)
        if row is not None and row["step"] >= step:
            keep = offset
            break
        offset += len(line) + 1
    if keep < len(data) or (not data.endswith(b"\n") and data):
        kept = data[:keep]
        if kept and not kept.endswith(b"\n"):  # a torn last line gets its end, so appends start a line
            kept += b"\n"
        folder.write_bytes(METRICS_FILE, data=kept)


__all__ = ["KEEP_RESUME_STATES", "load_checkpoint", "save_checkpoint", "truncate_metrics"]
