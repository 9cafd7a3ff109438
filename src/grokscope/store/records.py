"""The metadata of a run folder as typed, validated records: ``run.json`` and ``manifest.json``.

What a folder says is checked when it is read, so a damaged or hand-edited file is one line that
names the file and what to do, never a traceback deep inside a command, and a file name in the
manifest is only ever a name of the form the trainer writes (``step_0000100.safetensors``), never
a path.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard, TypeVar

from grokscope.store.folder import RunFolder

RUN_FILE, MANIFEST_FILE, METRICS_FILE = "run.json", "manifest.json", "metrics.jsonl"
CKPT_DIR, RESUME_DIR = "ckpt", "resume"

T = TypeVar("T")
RESTORE = "restore it from a backup, or start the run again with --name (or delete the folder)"


class DamagedRunError(ValueError):
    """A metadata file of a run folder that is not what grokscope writes."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file is missing, truncated or does not match its manifest entry."""


def damaged(file: object, problem: str, todo: str = RESTORE) -> DamagedRunError:
    return DamagedRunError(f"{file} is damaged ({problem}): {todo}")


def checkpoint_name(step: int) -> str:
    return f"step_{step:07d}.safetensors"


def resume_name(step: int) -> str:
    return f"state_{step:07d}.safetensors"


_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileEntry:
    """A safetensors file of the run: its name (in ``ckpt/`` or ``resume/``), size, SHA-256 and step."""

    file: str
    bytes: int
    sha256: str
    step: int

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256, "step": self.step}

    @staticmethod
    def from_json(obj: Any, *, resume: bool, where: str) -> "FileEntry":
        if not isinstance(obj, dict):
            raise ValueError(f"{where} is not an object")
        step, size, sha = obj.get("step"), obj.get("bytes"), obj.get("sha256")
        if not _is_int(step) or step < 0:
            raise ValueError(f"{where} has no valid step")
        expected = resume_name(step) if resume else checkpoint_name(step)
        if obj.get("file") != expected:  # a name the trainer wrote, never a path
            raise ValueError(f"{where} names {str(obj.get('file'))[:60]!r}, not {expected!r}")
        if not _is_int(size) or size < 0 or not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ValueError(f"{where} has no valid size and SHA-256")
        return FileEntry(expected, size, sha, step)


@dataclass(frozen=True)
class Manifest:
    """Every committed checkpoint, ascending, and the resume states (newest last, at most two)."""

    checkpoints: tuple[FileEntry, ...] = ()
    resume: tuple[FileEntry, ...] = ()

    @property
    def steps(self) -> list[int]:
        return [e.step for e in self.checkpoints]

    def checkpoint(self, step: int) -> FileEntry | None:
        return next((e for e in self.checkpoints if e.step == step), None)

    def to_json(self) -> dict[str, Any]:
        # "resume" is the newest state (as every grokscope version wrote it); "previous_resume" the
        # one before, kept so that a damaged newest checkpoint can fall back to it.
        return {
            "checkpoints": [e.to_json() for e in self.checkpoints],
            "resume": self.resume[-1].to_json() if self.resume else None,
            "previous_resume": self.resume[-2].to_json() if len(self.resume) > 1 else None,
        }

    @staticmethod
    def from_json(obj: Any) -> "Manifest":
        if not isinstance(obj, dict) or not isinstance(obj.get("checkpoints"), list):
            raise ValueError("not an object with a list of checkpoints")
        entries = tuple(
            FileEntry.from_json(e, resume=False, where=f"checkpoint {i}") for i, e in enumerate(obj["checkpoints"])
        )
        steps = [e.step for e in entries]
        if steps != sorted(set(steps)):
            raise ValueError("checkpoint steps are not strictly ascending")
        resume = tuple(
            FileEntry.from_json(obj[k], resume=True, where=k)
            for k in ("previous_resume", "resume")
            if obj.get(k) is not None
        )
        for r in resume:
            if r.step not in steps:
                raise ValueError(f"the resume state of step {r.step} has no checkpoint")
        if len(resume) == 2 and resume[0].step >= resume[1].step:
            raise ValueError("its previous resume state is not older than its newest")
        return Manifest(entries, resume)


@dataclass(frozen=True)
class RunInfo:
    """``run.json``: the config (a ``to_dict()``), creation time, whether it finished, versions, extra fields."""

    config: dict[str, Any]
    finished: bool = False
    created: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "created": self.created,
            "finished": self.finished,
            "versions": self.versions,
            **self.extra,
        }

    @staticmethod
    def from_json(obj: Any) -> "RunInfo":
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        config = obj.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("task"), dict):
            raise ValueError("no config with a task")
        finished, created, versions = obj.get("finished", False), obj.get("created"), obj.get("versions", {})
        if (
            not isinstance(finished, bool)
            or not (created is None or isinstance(created, str))
            or not isinstance(versions, dict)
        ):
            raise ValueError("finished, created or versions of the wrong type")
        extra = {k: v for k, v in obj.items() if k not in ("config", "created", "finished", "versions")}
        return RunInfo(config, finished, created, versions, extra)


def parse_json(folder: RunFolder, name: str, data: bytes, todo: str = RESTORE) -> Any:
    """``data`` (the bytes of ``name``) as JSON, or a one-line :class:`DamagedRunError`."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(folder.path(name), "not UTF-8 text", todo) from None
    except ValueError as e:
        problem = "empty" if not data.strip() else f"not JSON: {str(e).split(':')[0].lower()}"
        raise damaged(folder.path(name), problem, todo) from None


def read_manifest(folder: RunFolder) -> Manifest:
    """The manifest, or an empty one when there is none yet (checked against the files in ``ckpt/``)."""
    try:
        data = folder.read_bytes(MANIFEST_FILE)
    except FileNotFoundError:
        if any(n.endswith(".safetensors") for n in folder.names(CKPT_DIR)):
            raise damaged(
                folder.path(MANIFEST_FILE),
                "missing while ckpt/ holds checkpoints",
                "restore it from a backup; without it no checkpoint can be verified",
            ) from None
        return Manifest()
    return _parse(folder, MANIFEST_FILE, data, Manifest.from_json)


def read_info(folder: RunFolder) -> RunInfo:
    """``run.json``, validated (its config is checked by :func:`grokscope.config.config_from_dict`)."""
    return _parse(folder, RUN_FILE, folder.read_bytes(RUN_FILE), RunInfo.from_json)


def _parse(folder: RunFolder, name: str, data: bytes, record: Callable[[Any], T]) -> T:
    """``data`` as JSON, then as ``record``: any mismatch is a :class:`DamagedRunError` naming the file."""
    obj = parse_json(folder, name, data)
    try:
        return record(obj)
    except ValueError as e:
        raise damaged(folder.path(name), str(e)) from None


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


__all__ = [
    "CKPT_DIR",
    "MANIFEST_FILE",
    "METRICS_FILE",
    "RESUME_DIR",
    "RUN_FILE",
    "CorruptCheckpointError",
    "DamagedRunError",
    "FileEntry",
    "Manifest",
    "RunInfo",
    "checkpoint_name",
    "damaged",
    "parse_json",
    "read_info",
    "read_manifest",
    "resume_name",
]
