"""Analyses of runs: Fourier analysis and progress measures on modular addition (Nanda et al. 2023),
and behavioural scoring of generated answers on character-level runs.

>>> from grokscope.analysis import analyze_fourier          # doctest: +SKIP
>>> fa = analyze_fourier("checkpoints/mod97-grok1l-s0")    # doctest: +SKIP
>>> fa.key_frequencies, [ph.to_dict() for ph in fa.phases]  # doctest: +SKIP

Modules: ``fourier`` (basis, projections, key frequencies), ``grid`` (the model on all p^2 inputs
for a stack of checkpoints), ``progress`` (measures per checkpoint), ``phases`` (phase boundaries,
handover summary), ``pipeline`` (the whole analysis of a run, cached in the run folder).
Imports are lazy so that reading a cached analysis does not import torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "FourierAnalysis": "grokscope.analysis.pipeline",
    "analyze_fourier": "grokscope.analysis.pipeline",
    "load_cached": "grokscope.analysis.pipeline",
    "Phase": "grokscope.analysis.phases",
    "detect_phases": "grokscope.analysis.phases",
    "handover_summary": "grokscope.analysis.phases",
    "KeyFrequencyRule": "grokscope.analysis.results",
    "FrequencyTracks": "grokscope.analysis.results",
    "FinalSpectra": "grokscope.analysis.results",
    "fourier_basis": "grokscope.analysis.fourier",
    "basis_names": "grokscope.analysis.fourier",
    "neuron_frequencies": "grokscope.analysis.fourier",
    "key_frequencies": "grokscope.analysis.fourier",
    "sum_directions": "grokscope.analysis.fourier",
    "grid_cache": "grokscope.analysis.grid",
    "progress_measures": "grokscope.analysis.progress",
    "gini": "grokscope.analysis.progress",
    "analyze_behavior": "grokscope.analysis.behavior",
    "BehaviorConfig": "grokscope.analysis.behavior",
    "BehaviorAnalysis": "grokscope.analysis.behavior_result",
    "score_answer": "grokscope.analysis.behavior_score",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscope.analysis' has no attribute {name!r}")
