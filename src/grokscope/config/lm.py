"""Configs of a character-level language-model run (nanoGPT's ``train.py`` settings, as data).

Torch-free, like ``config/modular.py``, so the CLI validates arguments before heavy imports.
Defaults are "Too Big to Think"'s n-model settings (its Table 1 and config files): 30,000 steps,
lr 1e-2 with a 2,000-step warm-up and cosine decay to 1e-4 at 25,000, AdamW betas (0.9, 0.99),
weight decay 0 on matrices only, gradient clipping at 1.0, dropout 0, seed 1337.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from grokscope.bounds import check_bool, check_float, check_int, check_seed
from grokscope.config.base import StoredRunConfig
from grokscope.models.presets import check_preset
from grokscope.tasks import is_text_task

# Table 1 of the paper: the optimisation settings that differ between the n-models and MLT.
PAPER_HPARAMS: MappingProxyType[str, dict[str, float]] = MappingProxyType(
    {
        "n-model": dict(lr=1e-2, min_lr=1e-4, weight_decay=0.0, dropout=0.0),
        "mlt": dict(lr=1e-5, min_lr=1e-6, weight_decay=0.1, dropout=0.2),
    }
)
# "Controlled Regularization" (appendix A): every model with weight decay 0.1 and dropout 0.
CONTROLLED_REGULARIZATION: MappingProxyType[str, float] = MappingProxyType(dict(weight_decay=0.1, dropout=0.0))


def paper_hparams(preset: str, *, controlled: bool = False) -> dict[str, float]:
    """The paper's lr/min_lr/weight decay/dropout for ``preset`` (optionally controlled-regularization)."""
    base = dict(PAPER_HPARAMS["mlt" if preset == "mlt" else "n-model"])
    return base | (dict(CONTROLLED_REGULARIZATION) if controlled else {})


# The word-operation task's own defaults, the blog setting of ``analyses/blog_failures.py`` (a
# 0.4M-parameter model, lr 1e-3, a short warm-up, minutes on a CPU). The paper's n-model settings
# (lr 1e-2 after a 2,000-step warm-up, 30,000 steps) were chosen for 1k-20k-parameter models on
# 9-character sums, not for these ~20-character lines.
WORD_OPS_PRESET = "power2l"
WORD_OPS_TRAIN: MappingProxyType[str, int | float] = MappingProxyType(
    dict(
        steps=3_000,
        lr=1e-3,
        min_lr=1e-4,
        warmup=100,
        lr_decay_steps=3_000,
        weight_decay=0.1,
        eval_every=100,
        eval_iters=4,
        ckpt_every=100,
    )
)


def default_preset(task_name: str) -> str:
    """The model a new run of ``task_name`` gets when none is named."""
    return WORD_OPS_PRESET if task_name.partition("-")[0] == "wordops" else "n14"


def default_train(
    task_name: str, preset: str, *, steps: int | None = None, controlled: bool = False
) -> dict[str, int | float]:
    """``LMTrainConfig`` fields a new run starts from: the blog's for wordops, the paper's Table 1 otherwise
    (``controlled``: its Controlled Regularization).

    With ``steps`` the warm-up and the decay horizon are scaled to it, so a shorter (or longer)
    run keeps the schedule's shape instead of ending mid-warm-up or before the decay.
    """
    wordops = task_name.partition("-")[0] == "wordops"
    base = dict(WORD_OPS_TRAIN) if wordops else paper_hparams(preset, controlled=controlled)
    full = base | {k: base.get(k, getattr(LMTrainConfig, k)) for k in ("steps", "warmup", "lr_decay_steps")}
    if steps is not None and steps != full["steps"]:
        scale = steps / full["steps"]
        full |= dict(
            steps=steps,
            warmup=round(full["warmup"] * scale),
            lr_decay_steps=max(1, round(full["lr_decay_steps"] * scale)),
        )
    return full


@dataclass(frozen=True, kw_only=True)
class LMTrainConfig:
    """Optimisation and bookkeeping of a next-token run.

    ``batch_size=None`` uses the task's. Evaluation every ``eval_every`` steps: train/val loss
    averaged over ``eval_iters`` fixed batches, then the task's own ``evaluate``. Checkpoints: the
    dense early set and every ``ckpt_every`` steps (``training/schedule.py``), the final step, and
    (``keep_best``) every step whose task ``score`` beats all earlier ones. ``fast`` computes the
    nanoGPT presets' forward with fused PyTorch ops (``models/lm_fast.py``, the same maths up to
    float rounding); ``False`` runs ``HookedTransformer`` itself.
    """

    steps: int = 30_000
    lr: float = 1e-2
    min_lr: float = 1e-4
    warmup: int = 2_000
    lr_decay_steps: int = 25_000
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    dropout: float = 0.0
    batch_size: int | None = None
    eval_every: int = 250
    eval_iters: int = 20
    ckpt_every: int = 1_000
    keep_best: bool = True
    fast: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "eval_every", "eval_iters", "ckpt_every"):
            check_int(name, getattr(self, name))
        check_int("warmup", self.warmup, lo=0)
        check_int("lr_decay_steps", self.lr_decay_steps, lo=0)
        check_int("batch_size", self.batch_size, none_ok=True)
        check_float("lr", self.lr, lo=0, lo_open=True)
        check_float("min_lr", self.min_lr, lo=0, lo_open=True)
        if self.min_lr > self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr {self.min_lr} and lr {self.lr}")
        check_float("weight_decay", self.weight_decay, lo=0)
        check_float("grad_clip", self.grad_clip, lo=0)
        check_float("beta1", self.beta1, lo=0, hi=1, hi_open=True)
        check_float("beta2", self.beta2, lo=0, hi=1, hi_open=True)
        check_float("dropout", self.dropout, lo=0, hi=1, hi_open=True)
        check_bool("keep_best", self.keep_best)
        check_bool("fast", self.fast)


LM_ENDPOINT_FIELDS = frozenset({"steps"})


@dataclass(frozen=True, kw_only=True)
class LMRunConfig(StoredRunConfig):
    """A character-level run: task, model preset, seed, optimisation."""

    train_config: ClassVar[type] = LMTrainConfig
    endpoint_fields: ClassVar[frozenset[str]] = LM_ENDPOINT_FIELDS
    trainer: ClassVar[str | None] = "lm"

    task: Any
    preset: str = "n14"
    seed: int = 1337
    train: LMTrainConfig = field(default_factory=LMTrainConfig)

    def __post_init__(self) -> None:
        check_preset(self.preset)
        check_seed("seed", self.seed)
        if not is_text_task(self.task):
            raise ValueError(f"task {getattr(self.task, 'name', self.task)!r} is not a character-level task")

    @property
    def batch_size(self) -> int:
        return self.train.batch_size or self.task.batch_size

    @property
    def default_name(self) -> str:
        return f"{self.task.name}-{self.preset}-s{self.seed}"
