"""Atomic, verifiable files: safetensors checkpoints and JSON, never pickle.

Every write goes to a temporary file in the same folder, is fsynced and then ``os.replace``d
into place, so a reader (or a resumed run) sees either the old file or the new one, whole. The
manifest records each checkpoint's size and SHA-256, so a truncated or altered file is detected
before it is loaded.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor


class CorruptCheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not match its manifest entry."""


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a fsynced temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; runs and reports are as readable as any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def save_tensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Write ``tensors`` as safetensors atomically; returns the manifest entry (file, bytes, sha256)."""
    data = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    write_bytes_atomic(path, data)
    return {"file": Path(path).name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def load_tensors(path: Path, entry: dict[str, Any] | None = None, *, device: str = "cpu") -> dict[str, Tensor]:
    """Read a safetensors file, checking size and hash against its manifest ``entry`` if given."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorruptCheckpointError(f"{path}: cannot read ({e.strerror})") from e
    if entry is not None:
        if len(data) != entry["bytes"]:
            raise CorruptCheckpointError(f"{path}: {len(data)} bytes, manifest says {entry['bytes']} (truncated?)")
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CorruptCheckpointError(f"{path}: contents do not match the manifest's SHA-256")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise CorruptCheckpointError(f"{path}: not a valid safetensors file ({e})") from e
    if device != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors
