"""grokscope: watch small transformers grok.

>>> import grokscope as gs
>>> gs.get_task("mod97")
ModularTask(p=97, op='add', frac=0.3, seed=0, split='random', train_pairs=None)

The heavy parts (torch, TransformerLens) load on first use, so ``import grokscope`` is instant.
"""

from importlib import import_module
from typing import Any

from grokscope.version import __version__

_LAZY = {
    "get_task": "grokscope.tasks",
    "ModularTask": "grokscope.tasks",
    "PRESETS": "grokscope.models.presets",
    "RunConfig": "grokscope.config",
    "TrainConfig": "grokscope.config",
    "LMTrainConfig": "grokscope.config",
    "make_config": "grokscope.config",
    "train": "grokscope.api",
    "resume": "grokscope.api",
    "analyze_model": "grokscope.api",
    "sweep": "grokscope.api",
    "load_sweep": "grokscope.api",
    "Sweep": "grokscope.sweeps.handle",
    "import_model": "grokscope.imports.run_folder",
    "ProgressBar": "grokscope.training.callbacks",
    "speed_settings": "grokscope.runtime",
    "Run": "grokscope.store.run",
    "load_run": "grokscope.store.run",
    "find_runs": "grokscope.store.run",
    "build_model": "grokscope.models.build",
    "get_char_task": "grokscope.tasks",
    "LMRunConfig": "grokscope.config",
    "analyze_fourier": "grokscope.analysis.fourier.pipeline",
    "analyze_behavior": "grokscope.analysis.behavior.over_checkpoints",
    "score_answer": "grokscope.analysis.behavior.score",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscope' has no attribute {name!r}")
