"""Analyses of runs: Fourier analysis and progress measures on modular addition (Nanda et al. 2023),
and behavioural scoring of generated answers on character-level runs.

>>> from grokscope.analysis import analyze_fourier          # doctest: +SKIP
>>> fa = analyze_fourier("checkpoints/mod97-grok1l-s0")    # doctest: +SKIP
>>> fa.key_frequencies, [ph.to_dict() for ph in fa.phases]  # doctest: +SKIP

One subpackage per topic, each with its computing functions, result types, figures and report:
``fourier`` (basis and projections, key frequencies, progress measures, phases, the cached
analysis of a run, its figures and report), ``ablation`` (the memorizing and generalizing
circuits removed at every checkpoint) and ``behavior`` (generated answers scored beyond exact
match). ``report_page`` is the page shell every HTML report shares. Figures take a computed
result and only draw it. Imports are lazy so that reading a cached analysis does not import torch.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "FourierAnalysis": "grokscope.analysis.fourier.pipeline",
    "analyze_fourier": "grokscope.analysis.fourier.pipeline",
    "load_cached": "grokscope.analysis.fourier.pipeline",
    "Phase": "grokscope.analysis.fourier.phases",
    "detect_phases": "grokscope.analysis.fourier.phases",
    "handover_summary": "grokscope.analysis.fourier.phases",
    "KeyFrequencyRule": "grokscope.analysis.fourier.results",
    "FrequencyTracks": "grokscope.analysis.fourier.results",
    "FinalSpectra": "grokscope.analysis.fourier.results",
    "fourier_basis": "grokscope.analysis.fourier.basis",
    "basis_names": "grokscope.analysis.fourier.basis",
    "neuron_frequencies": "grokscope.analysis.fourier.basis",
    "key_frequencies": "grokscope.analysis.fourier.basis",
    "sum_directions": "grokscope.analysis.fourier.basis",
    "progress_measures": "grokscope.analysis.fourier.progress_measures",
    "gini": "grokscope.analysis.fourier.progress_measures",
    "analyze_behavior": "grokscope.analysis.behavior.over_checkpoints",
    "BehaviorConfig": "grokscope.analysis.behavior.over_checkpoints",
    "BehaviorAnalysis": "grokscope.analysis.behavior.result",
    "score_answer": "grokscope.analysis.behavior.score",
    "ablate_run": "grokscope.analysis.ablation.over_checkpoints",
    "plot_circuit_handover": "grokscope.analysis.ablation.report",
    "plot_frequency_importance": "grokscope.analysis.ablation.report",
    "plot_loss_vs_behavior": "grokscope.analysis.behavior.figures",
    "plot_per_group": "grokscope.analysis.behavior.figures",
    "plot_losses": "grokscope.analysis.fourier.progress_figures",
    "plot_progress_measures": "grokscope.analysis.fourier.progress_figures",
    "plot_embedding_norms": "grokscope.analysis.fourier.figures",
    "plot_neuron_clusters": "grokscope.analysis.fourier.figures",
    "plot_logit_spectrum": "grokscope.analysis.fourier.figures",
    "plot_key_frequency_emergence": "grokscope.analysis.fourier.figures",
    "write_report": "grokscope.analysis.fourier.report",
    "write_report_cached": "grokscope.analysis.fourier.report",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscope.analysis' has no attribute {name!r}")
