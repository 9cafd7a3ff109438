"""Figures of the analyses (plotly ``go.Figure``s) and the standalone HTML report.

Each ``plot_*`` takes a computed result (e.g. :class:`grokscope.analysis.FourierAnalysis`) and
only draws it, so a notebook can redo or restyle any figure without recomputing.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "plot_losses": "grokscope.plotting.progress",
    "plot_progress_measures": "grokscope.plotting.progress",
    "shade_phases": "grokscope.plotting.progress",
    "plot_embedding_norms": "grokscope.plotting.fourier",
    "plot_neuron_clusters": "grokscope.plotting.fourier",
    "plot_logit_spectrum": "grokscope.plotting.fourier",
    "plot_key_frequency_emergence": "grokscope.plotting.fourier",
    "report_figures": "grokscope.plotting.html",
    "render_report": "grokscope.plotting.html",
    "write_report": "grokscope.plotting.html",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'grokscope.plotting' has no attribute {name!r}")
