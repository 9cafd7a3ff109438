"""What a modular-arithmetic (grokking) run is: task, model preset, seed and optimisation, as frozen dataclasses.

Torch-free, so the command line validates arguments before the heavy imports.
"""

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from grokscope.bounds import check_bool, check_float, check_int, check_seed
from grokscope.config.base import StoredRunConfig
from grokscope.models.presets import check_preset, model_kwargs
from grokscope.models.shape import ModelShape
from grokscope.tasks import ModularTask

Device = Literal["auto", "cpu", "cuda"]
InputFormat = Literal["a_b_eq", "a_b"]
INPUT_FORMATS: tuple[str, ...] = ("a_b_eq", "a_b")
IMPORTED = "imported"  # the preset name of a run whose model shape is given explicitly


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation and bookkeeping. Defaults are Nanda et al.'s (AdamW, wd 1, full batch).

    ``batch_size=None`` trains full-batch. ``stop_after_grok=N`` ends the run ``N`` steps after
    test accuracy first reaches ``grok_threshold`` (``None`` trains for all ``steps``).
    Checkpoints: every ``ckpt_every`` steps, plus a dense log-spaced set below that.

    Every field is checked when the config is made:

    >>> TrainConfig(steps=3000, weight_decay=0.1).weight_decay
    0.1
    >>> TrainConfig(steps=0)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an integer in 1..1000000000, got 0
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
        for name in ("steps", "eval_every", "ckpt_every"):
            check_int(name, getattr(self, name))
        check_int("warmup", self.warmup, lo=0)
        check_int("batch_size", self.batch_size, none_ok=True)
        check_int("stop_after_grok", self.stop_after_grok, lo=0, none_ok=True)
        check_float("grok_threshold", self.grok_threshold, lo=0, hi=1, lo_open=True)
        check_float("lr", self.lr, lo=0, lo_open=True)
        check_float("weight_decay", self.weight_decay, lo=0)
        check_float("beta1", self.beta1, lo=0, hi=1, hi_open=True)
        check_float("beta2", self.beta2, lo=0, hi=1, hi_open=True)
        check_bool("fast", self.fast)


# Fields that only decide where a run ends: a resumed run may change them freely.
ENDPOINT_FIELDS = frozenset({"steps", "stop_after_grok", "grok_threshold"})


@dataclass(frozen=True, kw_only=True)
class RunConfig(StoredRunConfig):
    """Everything that determines a run's trajectory, and where it stops."""

    train_config: ClassVar[type] = TrainConfig
    endpoint_fields: ClassVar[frozenset[str]] = ENDPOINT_FIELDS

    task: ModularTask
    preset: str = "grok1l"
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    # A model trained elsewhere (``grokscope import``): its shape, with ``preset="imported"``, and
    # how its inputs are laid out: ``[a, b, =]`` (grokscope's, the TransformerLens demo's) or ``[a, b]``.
    model: ModelShape | None = None
    input_format: InputFormat = "a_b_eq"

    def __post_init__(self) -> None:
        if not isinstance(self.task, ModularTask):  # a character-level run's run.json says "trainer": "lm"
            raise ValueError(f"task {getattr(self.task, 'name', self.task)!r} is not a mod<p> task")
        if self.model is None:
            check_preset(self.preset)
        elif self.preset != IMPORTED:
            raise ValueError(f"a run with an explicit model shape has preset {IMPORTED!r}, not {self.preset!r}")
        if self.input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {self.input_format!r}")
        if self.input_format != "a_b_eq" and self.model is None:
            raise ValueError("only imported models read inputs without the '=' token")
        check_seed("seed", self.seed)

    def model_kwargs(self) -> dict[str, Any]:
        """``HookedTransformerConfig`` keyword arguments of this run's model."""
        return self.model.tl_kwargs() if self.model is not None else model_kwargs(self.preset, self.task)

    @property
    def default_name(self) -> str:
        frac = f"-f{self.task.frac:g}" if self.task.frac != 0.3 else ""
        return f"{self.task.name}-{self.preset}{frac}-s{self.seed}"
