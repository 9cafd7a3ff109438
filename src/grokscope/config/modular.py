"""What a modular-arithmetic (grokking) run is: task, model preset, seed and optimisation, as frozen dataclasses.

Torch-free, so the command line validates arguments before the heavy imports.
"""

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from grokscope.config.base import StoredRunConfig
from grokscope.models.presets import check_preset
from grokscope.tasks import Task

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation and bookkeeping. Defaults are Nanda et al.'s (AdamW, wd 1, full batch).

    ``batch_size=None`` trains full-batch. ``stop_after_grok=N`` ends the run ``N`` steps after
    test accuracy first reaches ``grok_threshold`` (``None`` trains for all ``steps``).
    Checkpoints: every ``ckpt_every`` steps, plus a dense log-spaced set below that.
    """

    steps: int = 30_000
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    warmup: int = 10
    batch_size: int | None = None
    eval_every: int = 50
    ckpt_every: int = 100
    stop_after_grok: int | None = 2_000
    grok_threshold: float = 0.99
    fast: bool = True

    def __post_init__(self) -> None:
        _positive(self, "steps", "eval_every", "ckpt_every")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.batch_size is not None and self.batch_size <= 0:
            raise ValueError(f"batch size must be positive, got {self.batch_size}")
        if self.stop_after_grok is not None and self.stop_after_grok < 0:
            raise ValueError(f"stop_after_grok must be >= 0 or None, got {self.stop_after_grok}")
        if not 0 < self.grok_threshold <= 1:
            raise ValueError(f"grok_threshold must be in (0, 1], got {self.grok_threshold}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {self.beta1}, {self.beta2}")


# Fields that only decide where a run ends: a resumed run may change them freely.
ENDPOINT_FIELDS = frozenset({"steps", "stop_after_grok", "grok_threshold"})


@dataclass(frozen=True, kw_only=True)
class RunConfig(StoredRunConfig):
    """Everything that determines a run's trajectory, and where it stops."""

    train_config: ClassVar[type] = TrainConfig
    endpoint_fields: ClassVar[frozenset[str]] = ENDPOINT_FIELDS

    task: Task
    preset: str = "grok1l"
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_preset(self.preset)

    @property
    def default_name(self) -> str:
        frac = f"-f{self.task.frac:g}" if self.task.frac != 0.3 else ""
        return f"{self.task.name}-{self.preset}{frac}-s{self.seed}"


def _positive(obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(obj, name)}")
