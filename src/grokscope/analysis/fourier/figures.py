"""Figures of the Fourier structure: embedding and logit-map norms, neuron clusters, logit spectrum,
and key frequencies emerging over training (Nanda et al. 2023, Figs 3-5 and 11)."""

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grokscope.analysis.fourier.basis import basis_names, n_frequencies
from grokscope.analysis.fourier.pipeline import FourierAnalysis
from grokscope.analysis.fourier.progress_figures import TEMPLATE, shade_phases

FVE_CUT = 0.6  # the key-frequency rule's min_fve (KeyFrequencyRule), for labelling clusters


def _names(p: int) -> list[str]:
    return basis_names(p)


def plot_embedding_norms(fa: FourierAnalysis) -> go.Figure:
    """Fourier-component norms of ``W_E`` (over d_model) and ``W_L = W_out W_U`` (over neurons), grouped cos/sin per k."""
    f = fa.final
    k = np.arange(1, n_frequencies(fa.p) + 1)
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.14,
        subplot_titles=(
            f"W_E (embedding, '=' dropped) at step {f.step}",
            f"W_L = W_out W_U (neuron to logit) at step {f.step}",
        ),
    )
    for row, comp in ((1, f.embed_components), (2, f.logit_map_components)):
        fig.add_trace(
            go.Bar(x=k, y=comp[1::2], name="cos", marker_color="#1f77b4", showlegend=row == 1), row=row, col=1
        )
        fig.add_trace(
            go.Bar(x=k, y=comp[2::2], name="sin", marker_color="#ff7f0e", showlegend=row == 1), row=row, col=1
        )
        fig.add_trace(
            go.Bar(x=[0], y=[comp[0]], name="const", marker_color="grey", showlegend=row == 1), row=row, col=1
        )
    for key in fa.key_frequencies:
        fig.add_vline(x=key, line_dash="dot", line_color="rgba(0,0,0,0.35)")
    fig.update_layout(
        template=TEMPLATE, barmode="group", title=f"{fa.run}: Fourier components (dotted: key frequencies)", height=640
    )
    fig.update_xaxes(title_text="frequency k", dtick=5)
    fig.update_yaxes(title_text="norm")
    return fig


def neuron_order(fa: FourierAnalysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neurons sorted by dominant frequency (unclustered last); returns (order, frequency, best FVE)."""
    fve = fa.final.neuron_fve
    best, freq = fve.max(axis=1), fve.argmax(axis=1) + 1
    clustered = best >= FVE_CUT
    key = np.where(clustered, freq, 10_000) * 10 - best  # cluster by frequency, strongest first
    return np.argsort(key, kind="stable"), freq, best


def plot_neuron_clusters(fa: FourierAnalysis) -> go.Figure:
    """Neurons by frequency: cluster sizes, the FVE histogram, and the neuron x frequency FVE map."""
    order, freq, best = neuron_order(fa)
    fve = fa.final.neuron_fve
    alive = fa.final.neuron_variance > 1e-6 * fa.final.neuron_variance.max()
    n_freq = fve.shape[1]
    clustered = (best >= FVE_CUT) & alive
    sizes = np.bincount(freq[clustered], minlength=n_freq + 1)[1:]
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{}, {}], [{"colspan": 2}, None]],
        vertical_spacing=0.14,
        row_heights=[0.4, 0.6],
        subplot_titles=(
            f"neurons per frequency (FVE >= {FVE_CUT})",
            "largest FVE per neuron",
            "fraction of each neuron's variance explained by each frequency (neurons sorted by cluster)",
        ),
    )
    colors = ["#d62728" if k in fa.key_frequencies else "#7f7f7f" for k in range(1, n_freq + 1)]
    fig.add_trace(
        go.Bar(x=np.arange(1, n_freq + 1), y=sizes, marker_color=colors, name="cluster size", showlegend=False),
        row=1,
        col=1,
    )
    fig.add_trace(go.Histogram(x=best[alive], nbinsx=40, marker_color="#1f77b4", showlegend=False), row=1, col=2)
    fig.add_trace(
        go.Heatmap(
            z=fve[order].T,
            x=np.arange(len(order)),
            y=np.arange(1, n_freq + 1),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="FVE", len=0.55, y=0.28),
            hovertemplate="neuron rank %{x}<br>k=%{y}<br>FVE %{z:.2f}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(title_text="frequency k", row=1, col=1)
    fig.update_yaxes(title_text="neurons", row=1, col=1)
    fig.update_xaxes(title_text="FVE of dominant frequency", row=1, col=2)
    fig.update_yaxes(title_text="neurons", row=1, col=2)
    fig.update_xaxes(title_text="neuron (sorted)", row=2, col=1)
    fig.update_yaxes(title_text="k", row=2, col=1)
    n_dead = int((~alive).sum())
    fig.update_layout(
        template=TEMPLATE,
        title=f"{fa.run}: MLP neuron clusters at step {fa.final.step} ({int(clustered.sum())} of "
        f"{len(best)} neurons clustered, {n_dead} dead)",
        height=760,
    )
    return fig


def plot_logit_spectrum(fa: FourierAnalysis, *, top: int = 24) -> go.Figure:
    """Norm (over output classes) of the logits' 2D Fourier transform over (a, b), paper Fig 4c.

    Left: all ``p x p`` components. Right: only the components (rows and columns) holding one of
    the ``top`` largest entries, every one labelled. Colours are on a log scale (hover shows the
    norm itself): a few components hold nearly all of it, and on a linear scale the rest is one
    dark field.
    """
    spec = fa.final.logit_spectrum
    names = np.array(_names(fa.p))
    flat = np.argsort(spec, axis=None)[::-1][:top]
    idx = np.unique(np.concatenate(np.unravel_index(flat, spec.shape)))
    log_z, tickvals, ticktext = _log_colors(spec)
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.12,
        subplot_titles=("all components", f"components of the {top} largest entries"),
    )
    hover = "a: %{y}<br>b: %{x}<br>norm %{customdata:.3g}<extra></extra>"
    scale = dict(colorscale="Viridis", zmin=float(log_z.min()), zmax=float(log_z.max()), hovertemplate=hover)
    fig.add_trace(
        go.Heatmap(z=log_z, customdata=spec, x=names, y=names, showscale=False, **scale),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Heatmap(
            z=log_z[np.ix_(idx, idx)],
            customdata=spec[np.ix_(idx, idx)],
            x=names[idx],
            y=names[idx],
            colorbar=dict(title="norm (log scale)", tickvals=tickvals, ticktext=ticktext),
            **scale,
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(autorange="reversed", title_text="Fourier component over a")
    fig.update_xaxes(title_text="Fourier component over b")
    fig.update_xaxes(type="category", tickangle=-60, row=1, col=2)
    fig.update_yaxes(type="category", row=1, col=2)
    fig.update_layout(
        template=TEMPLATE, title=f"{fa.run}: 2D Fourier spectrum of the logits at step {fa.final.step}", height=620
    )
    return fig


LOG_COLOR_DECADES = 6  # a logit spectrum's colours span at most this many decades below its largest norm


def _log_colors(values: np.ndarray) -> tuple[np.ndarray, list[float], list[str]]:
    """``log10`` of non-negative ``values`` for a colour scale, and its colour bar's ticks (positions
    and labels): the whole decades inside it, or its two ends when it spans less than two.

    Zeros (a constant component) and values more than :data:`LOG_COLOR_DECADES` decades below the
    largest are drawn at that floor, so a handful of exact zeros cannot stretch the scale."""
    top = float(values.max()) if values.size and np.isfinite(values.max()) and values.max() > 0 else 1.0
    positive = values[values > 0]
    floor = max(float(positive.min()) if positive.size else top, top * 10.0**-LOG_COLOR_DECADES)
    log_z = np.log10(np.clip(values, floor, top))
    decades = list(range(int(np.ceil(log_z.min())), int(np.floor(log_z.max())) + 1))
    if len(decades) >= 2:
        return log_z, [float(d) for d in decades], [f"10<sup>{d}</sup>" for d in decades]
    ends = [float(log_z.min()), float(log_z.max())]
    return log_z, ends, [f"{10**e:.3g}" for e in ends]


def plot_key_frequency_emergence(fa: FourierAnalysis) -> go.Figure:
    """Key frequencies emerging over time: neuron-cluster share per frequency and step, and the
    key frequencies' share of the logits and of W_E's Fourier energy."""
    t = fa.tracks
    steps = np.asarray(t.steps)
    n_neurons = fa.final.neuron_fve.shape[0]
    fig = make_subplots(
        rows=2,
        cols=1,
        vertical_spacing=0.12,
        row_heights=[0.6, 0.4],
        subplot_titles=(
            "share of neurons whose variance a frequency explains (>= 60%)",
            "share of logit energy along cos/sin(w_k (a+b)), per key frequency",
        ),
    )
    fig.add_trace(
        go.Heatmap(
            z=(t.neuron_clusters / n_neurons).T,
            x=steps,
            y=np.arange(1, t.neuron_clusters.shape[1] + 1),
            colorscale="Magma",
            reversescale=True,
            zmin=0,
            colorbar=dict(title="share", len=0.5, y=0.78),
            hovertemplate="step %{x}<br>k=%{y}<br>%{z:.1%}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    for i, k in enumerate(fa.key_frequencies):
        color = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(x=steps, y=t.logit_share[:, k - 1], mode="lines", name=f"k={k} logits", line=dict(color=color)),
            row=2,
            col=1,
        )
        e = t.embed_norms
        share = e[:, k - 1] ** 2 / np.maximum((e**2).sum(axis=1), 1e-30)
        fig.add_trace(
            go.Scatter(x=steps, y=share, mode="lines", name=f"k={k} W_E", line=dict(color=color, dash="dot")),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="frequency k", row=1, col=1)
    fig.update_yaxes(title_text="share", row=2, col=1)
    fig.update_xaxes(title_text="step")
    shade_phases(fig, fa.phases, row=2, col=1, label=False)
    first = sorted(((s, k) for k, s in _first_key_steps(fa).items() if s is not None))
    text = ", ".join(f"k={k} from step {s}" for s, k in first) or "none"
    # The first-step list goes on a line of its own: on one line it ran past the figure's edge.
    fig.update_layout(
        template=TEMPLATE,
        title=f"{fa.run}: key frequencies over training<br><sup>{text}</sup>",
        height=800,
        legend=dict(orientation="h", x=0, y=-0.1, yanchor="top"),
    )
    return fig


def _first_key_steps(fa: FourierAnalysis) -> dict[int, int | None]:
    """First step from which each final key frequency stays a key frequency by the rule."""
    mask = np.asarray(fa.tracks.key_mask, dtype=bool)
    steps = fa.tracks.steps
    out: dict[int, int | None] = {}
    for k in fa.key_frequencies:
        col = mask[:, k - 1]
        off = np.flatnonzero(~col)
        start = 0 if len(off) == 0 else off[-1] + 1
        out[k] = int(steps[start]) if start < len(steps) else None
    return out


__all__ = [
    "neuron_order",
    "plot_embedding_norms",
    "plot_key_frequency_emergence",
    "plot_logit_spectrum",
    "plot_neuron_clusters",
]
