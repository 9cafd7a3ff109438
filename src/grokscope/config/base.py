"""What both kinds of run config share: JSON round-trip, and the one check of what a resume may change.

A run config is a frozen dataclass with a task, a preset, a seed and a train config. Two configs
are the same run when they agree on every field but the *endpoint fields* (where the run stops):
that decides whether ``grokscope train`` continues a folder or refuses it, and what ``--resume``
accepts from the command line.
"""

import json
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, ClassVar

from grokscope.tasks import task_from_dict

if TYPE_CHECKING:
    from grokscope.tasks import Task


class StoredRunConfig:
    """What both run configs share: a task, a preset, a seed and a train config, stored as JSON.

    Subclasses (frozen dataclasses with those four fields) name their train config class, the
    train fields a resume may change, and a ``trainer`` tag written to ``run.json`` (if any).
    """

    train_config: ClassVar[type]
    endpoint_fields: ClassVar[frozenset[str]]
    trainer: ClassVar[str | None] = None

    if TYPE_CHECKING:  # the subclasses' dataclass fields, and the __init__ the dataclass makes of them
        task: Task
        preset: str
        seed: int
        train: Any

        def __init__(self, **fields: Any) -> None: ...

    def to_dict(self) -> dict[str, Any]:
        d = {"task": self.task.to_dict(), "preset": self.preset, "seed": self.seed, "train": asdict(self.train)}
        model = getattr(self, "model", None)
        if model is not None:  # an imported run: its shape and input format
            d |= {"model": model.to_dict(), "input_format": getattr(self, "input_format", "a_b_eq")}
        return d | {"trainer": self.trainer} if self.trainer else d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        optional = {"model", "input_format"} & names
        unknown = set(d) - {"task", "preset", "seed", "train"} - optional - ({"trainer"} if cls.trainer else set())
        if unknown:
            raise ValueError(f"unknown run config keys {sorted(unknown)}")
        bad = set(d.get("train", {})) - {f.name for f in fields(cls.train_config)}
        if bad:
            raise ValueError(f"unknown train config keys {sorted(bad)}")
        extra: dict[str, Any] = {}
        if d.get("model") is not None:
            from grokscope.models.shape import ModelShape

            extra = {"model": ModelShape.from_dict(d["model"]), "input_format": d.get("input_format", "a_b_eq")}
        return cls(
            task=task_from_dict(d["task"]),
            preset=d["preset"],
            seed=d["seed"],
            train=cls.train_config(**d.get("train", {})),
            **extra,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def conflicts(self, other: "StoredRunConfig") -> list[str]:
        """Differences from ``other`` that would change the trajectory (endpoint fields may differ)."""
        return self.mismatches(other.flat())

    def flat(self) -> dict[str, Any]:
        """Every field as a dotted key (``train.lr``, ``task.p``), plus ``task.name``."""
        return _flatten(self.to_dict()) | {"task.name": self.task.name}

    def mismatches(self, asked: dict[str, Any]) -> list[str]:
        """``asked`` (dotted keys, as :meth:`flat`) where it differs from this config, endpoint fields aside.

        A key this kind of run does not have is a mismatch too: the run cannot honour it.
        """
        have = self.flat()
        out = []
        for key, value in sorted(asked.items()):
            if key.split(".")[-1] in self.endpoint_fields:
                continue
            shown = key.removeprefix("train.")
            if key not in have:
                out.append(f"{shown} does not apply to this {self.task.name} run")
            elif have[key] != value:
                out.append(f"run has {shown}={have[key]!r} but you asked for {value!r}")
        return out


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
