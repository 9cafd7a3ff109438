"""Atomic, verifiable files: safetensors checkpoints, never pickle.

Inside a run folder every read and write goes through :class:`~grokscope.store.folder.RunFolder`;
:func:`write_bytes_atomic` is for a path the user typed (``--out report.html``). Every write goes
to a temporary file in the same folder, is fsynced and then renamed into place, so a reader (or
a resumed run) sees either the old file or the new one, whole. The manifest records each
checkpoint's size and SHA-256, so a truncated or altered file is detected before it is loaded.
"""

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor

from grokscope.store.folder import RunFolder, UnsafeRunFolderError
from grokscope.store.records import CorruptCheckpointError

if TYPE_CHECKING:
    from grokscope.store.records import FileEntry


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (a path the user gave; parents made) atomically: temporary file beside it,
    fsync, rename."""
    path = Path(path)
    folder = RunFolder(path.parent)
    folder.make_dirs()
    folder.write_bytes(path.name, data=data)


def save_tensors(
    folder: RunFolder, parts: tuple[str, ...], tensors: Mapping[str, Tensor], metadata: dict[str, str] | None = None
) -> tuple[int, str]:
    """Write ``tensors`` as safetensors atomically at ``parts`` inside ``folder``; returns (bytes, SHA-256)."""
    data = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    folder.write_bytes(*parts, data=data)
    return len(data), hashlib.sha256(data).hexdigest()


def load_tensors(
    folder: RunFolder, parts: tuple[str, ...], entry: "FileEntry | None" = None, *, device: str = "cpu"
) -> dict[str, Tensor]:
    """Read a safetensors file of ``folder``, checking size and hash against its manifest ``entry`` if given."""
    path = folder.path(*parts)
    try:
        data = folder.read_bytes(*parts)
    except OSError as e:
        raise CorruptCheckpointError(f"{path}: cannot read ({e.strerror})") from e
    except UnsafeRunFolderError as e:
        raise CorruptCheckpointError(str(e)) from e
    if entry is not None:
        if len(data) != entry.bytes:
            raise CorruptCheckpointError(f"{path}: {len(data)} bytes, manifest says {entry.bytes} (truncated?)")
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise CorruptCheckpointError(f"{path}: contents do not match the manifest's SHA-256")
    return tensors_from_bytes(data, str(path), device=device)


def tensors_from_bytes(data: bytes, where: str, *, device: str = "cpu") -> dict[str, Tensor]:
    """Tensors of a safetensors file's bytes (no pickle is involved); ``where`` names it in errors."""
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise CorruptCheckpointError(f"{where}: not a valid safetensors file ({e})") from e
    if device != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors
