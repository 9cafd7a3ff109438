"""grokscope: watch small transformers grok.

>>> import grokscope as gs
>>> gs.get_task("mod97")
ModularTask(p=97, op='add', frac=0.3, seed=0)

The heavy parts (torch, TransformerLens) load on first use, so ``import grokscope`` is instant.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "get_task": "grokscope.tasks",
    "ModularTask": "grokscope.tasks",
    "PRESETS": "grokscope.models.presets",
    "RunConfig": "grokscope.training.config",
    "TrainConfig": "grokscope.training.config",
    "train": "grokscope.api",
    "resume": "grokscope.training.loop",
    "Run": "grokscope.store.run",
    "load_run": "grokscope.store.run",
    "find_runs": "grokscope.store.run",
    "build_model": "grokscope.models.build",
    "get_char_task": "grokscope.tasks",
    "LMRunConfig": "grokscope.training.lm_config",
    "train_lm": "grokscope.training.lm",
    "analyze_fourier": "grokscope.analysis.pipeline",
    "analyze_behavior": "grokscope.analysis.behavior",
    "score_answer": "grokscope.analysis.behavior_score",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscope' has no attribute {name!r}")
