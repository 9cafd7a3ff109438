"""Figures of the progress measures over training, phases shaded (Nanda et al. 2023, Figs 2 and 7)."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grokscope.analysis.fourier.phases import Phase
from grokscope.analysis.fourier.pipeline import FourierAnalysis

TEMPLATE = "plotly_white"  # white background so the phase bands read clearly
PHASE_COLORS = {
    "memorization": "rgba(31,119,180,0.10)",
    "circuit formation": "rgba(255,127,14,0.12)",
    "cleanup": "rgba(44,160,44,0.12)",
}
LINE_COLORS = {"train": "#1f77b4", "test": "#d62728", "restricted": "#2ca02c", "excluded": "#9467bd"}


def shade_phases(
    fig: go.Figure, phases: tuple[Phase, ...], *, row: int | str = "all", col: int | str = "all", label: bool = True
) -> go.Figure:
    """Shade each phase's step range; labels on top of the figure's first subplot only."""
    for ph in phases:
        if ph.end <= ph.start:
            continue
        fig.add_vrect(
            x0=ph.start,
            x1=ph.end,
            fillcolor=PHASE_COLORS.get(ph.name, "rgba(0,0,0,0.06)"),
            line_width=0,
            layer="below",
            row=row,
            col=col,
        )
        if label:
            name = ph.name + ("" if ph.reached else " (open)")
            fig.add_annotation(
                x=(ph.start + ph.end) / 2,
                y=1.0,
                yref="paper",
                text=name,
                showarrow=False,
                yanchor="bottom",
                font=dict(size=11),
                xref="x",
            )
    return fig


def _steps(fa: FourierAnalysis) -> np.ndarray:
    return fa.measures.index.to_numpy()


def _line(fig, x, y, name, color, row=None, col=None, dash=None, showlegend=True):
    trace = go.Scatter(x=x, y=y, name=name, mode="lines", line=dict(color=color, dash=dash), showlegend=showlegend)
    if row is None:
        fig.add_trace(trace)
    else:
        fig.add_trace(trace, row=row, col=col)


def plot_losses(fa: FourierAnalysis) -> go.Figure:
    """Train and test loss (log y) and accuracy over steps, phases shaded (paper Fig 2).

    A button switches the step axis between linear and log.
    """
    m, x = fa.measures, _steps(fa)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (log scale)", "accuracy"))
    _line(fig, x, m["train_loss"], "train", LINE_COLORS["train"], 1, 1)
    _line(fig, x, m["test_loss"], "test", LINE_COLORS["test"], 1, 1)
    _line(fig, x, m["train_acc"], "train", LINE_COLORS["train"], 1, 2, showlegend=False)
    _line(fig, x, m["test_acc"], "test", LINE_COLORS["test"], 1, 2, showlegend=False)
    uniform = float(np.log(fa.p))
    log_axis_line(fig, uniform, "uniform", below=True, row=1, col=1)
    losses = np.concatenate([m["train_loss"].to_numpy(), m["test_loss"].to_numpy(), [uniform]])
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=1, range=_log_range(losses))
    fig.update_yaxes(range=[-0.02, 1.02], row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", row=1, col=2)
    fig.update_xaxes(title_text="step")
    shade_phases(fig, fa.phases, label=False)
    _phase_legend(fig, fa.phases)
    fig.update_layout(
        template=TEMPLATE, title=f"{fa.run}: loss and accuracy ({fa.task})", height=420, updatemenus=[_x_scale_menu()]
    )
    return fig


def log_axis_line(fig: go.Figure, y: float, text: str, *, below: bool = False, row=None, col=None) -> None:
    """A dotted grey line at ``y`` across a log-scale y axis, labelled ``text`` at its right end.

    plotly's ``add_hline(annotation_text=...)`` puts the label at ``y`` in the axis's own units, which on
    a log axis are decades: the label landed at 10^y, off the plot, and autorange stretched the axis to it.
    """
    fig.add_hline(y=y, line_dash="dot", line_color="grey", row=row, col=col)
    fig.add_annotation(
        x=1,
        xref="x domain",
        y=float(np.log10(y)),
        yref="y",
        text=text,
        showarrow=False,
        xanchor="right",
        yanchor="top" if below else "bottom",
        font=dict(size=11, color="grey"),
        row=row,
        col=col,
    )


def _log_range(values: np.ndarray) -> list[float]:
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return [-1, 1]
    return [float(np.log10(v.min())) - 0.3, float(np.log10(v.max())) + 0.3]


def _phase_legend(fig: go.Figure, phases: tuple[Phase, ...]) -> None:
    # Legend entries for the shaded bands (shapes have no legend of their own).
    for ph in phases:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{ph.name} {ph.start}-{ph.end}",
                marker=dict(size=12, symbol="square", color=PHASE_COLORS[ph.name].replace("0.1", "0.5")),
            )
        )


def _x_scale_menu() -> dict:
    return dict(
        type="buttons",
        direction="left",
        x=1.0,
        xanchor="right",
        y=1.18,
        yanchor="top",
        showactive=True,
        buttons=[
            dict(label="linear steps", method="relayout", args=[{"xaxis.type": "linear", "xaxis2.type": "linear"}]),
            dict(label="log steps", method="relayout", args=[{"xaxis.type": "log", "xaxis2.type": "log"}]),
        ],
    )


def plot_progress_measures(fa: FourierAnalysis) -> go.Figure:
    """The four progress panels: excluded and restricted loss against train/test, Gini, and weight norms.

    Restricted loss keeps only the key frequencies' sum directions (all pairs); excluded loss
    removes them (training pairs). Sum of squared weights is total and per component.
    """
    m, x = fa.measures, _steps(fa)
    ks = ", ".join(map(str, fa.key_frequencies)) or "none"
    fig = make_subplots(
        rows=2,
        cols=2,
        vertical_spacing=0.14,
        horizontal_spacing=0.09,
        subplot_titles=(
            "excluded loss (train pairs, key frequencies removed)",
            "restricted loss (all pairs, only key frequencies)",
            "Gini of Fourier-component norms",
            "sum of squared weights",
        ),
    )
    for col, name in ((1, "excluded"), (2, "restricted")):
        _line(fig, x, m["train_loss"], "train loss", LINE_COLORS["train"], 1, col, showlegend=col == 1)
        _line(fig, x, m["test_loss"], "test loss", LINE_COLORS["test"], 1, col, showlegend=col == 1)
        _line(fig, x, m[f"{name}_loss"], f"{name} loss", LINE_COLORS[name], 1, col)
        values = np.concatenate([m[c].to_numpy() for c in ("train_loss", "test_loss", f"{name}_loss")])
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=col, range=_log_range(values))
    _line(fig, x, m["gini_embed"], "Gini W_E", "#8c564b", 2, 1)
    _line(fig, x, m["gini_logit_map"], "Gini W_L", "#e377c2", 2, 1)
    _line(fig, x, m["sq_weights"], "total", "black", 2, 2)
    palette = ["#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e", "#1f77b4", "#aec7e8"]
    comps = [c for c in m.columns if c.startswith("sq_") and c != "sq_weights"]
    for c, color in zip(comps, palette):
        _line(fig, x, m[c], c.removeprefix("sq_"), color, 2, 2, dash="dot")
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="cross-entropy loss", row=1)
    fig.update_yaxes(title_text="Gini coefficient", row=2, col=1)
    fig.update_yaxes(title_text="sum of squared weights", row=2, col=2)
    shade_phases(fig, fa.phases, label=False)
    fig.update_layout(template=TEMPLATE, title=f"{fa.run}: progress measures (key frequencies {ks})", height=760)
    return fig


__all__ = ["log_axis_line", "plot_losses", "plot_progress_measures", "shade_phases"]
