"""Figures of the circuit ablations, and their standalone HTML report.

``plot_circuit_handover`` and ``plot_frequency_importance`` only draw a computed
:class:`~grokscope.analysis.ablation.over_checkpoints.CircuitAblations`. The Fourier report
(:mod:`grokscope.analysis.fourier.report`) has no way to take extra figures, so the ablation report is its
own offline HTML file (plotly.js inlined), by default ``<run>/analysis/ablation-<circuit>.html``
(:func:`report_file_name`) next to the Fourier report, one per circuit.
"""

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grokscope.analysis.ablation.over_checkpoints import METRICS, CircuitAblations
from grokscope.analysis.fourier.progress_figures import (
    LINE_COLORS,
    PHASE_COLORS,
    TEMPLATE,
    log_axis_line,
    shade_phases,
)
from grokscope.analysis.report_page import figure_sections, html_page, summary_section, write_page

# The generalizing circuit in the colour of the restricted loss (which keeps it), the memorizing
# one in that of the excluded loss (which keeps it), as in the progress-measures figure.
CIRCUIT_COLORS = {"generalizing": LINE_COLORS["restricted"], "memorizing": LINE_COLORS["excluded"]}


# The 50% crossings of the accuracy-based shares (share_crossings), as the key-steps tables say them.
CROSSING_LABELS = {
    "memorizing_up": "memorizing share first >= 50%",
    "generalizing_up": "generalizing share first >= 50%",
    "generalizing_stays": "generalizing share >= 50% from here on",
    "memorizing_down": "memorizing share falls below 50%",
}


def report_file_name(circuit: str) -> str:
    """The report's default file name in ``<run>/analysis/``: one per circuit, so neither overwrites the other."""
    return f"ablation-{circuit}.html"


def key_steps(res: CircuitAblations) -> list[tuple[int, str]]:
    """The steps worth a row of their own, each once and ascending, with what happens there in words:
    the phase milestones (:meth:`CircuitAblations.milestones`) and the accuracy shares' 50% crossings."""
    labels: dict[int, list[str]] = {}
    for label, step in res.milestones().items():
        labels.setdefault(step, []).append("last checkpoint" if label == "step" else label)
    cross = res.crossings()
    for key, text in CROSSING_LABELS.items():
        at = cross.get(key)
        if at is None or (key == "generalizing_stays" and at == cross.get("generalizing_up")):
            continue  # the share never dropped back: "first >= 50%" says it all
        labels.setdefault(at, []).append(text)
    return [(step, "; ".join(labels[step])) for step in sorted(labels)]


def _log_range(values: np.ndarray, *, pad: float = 0.3, top: float = 0.3) -> list[float]:
    """A log axis's range (in decades) around the positive finite ``values``, ``pad`` below, ``top`` above."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) == 0:
        return [-1, 1]
    return [float(np.log10(v.min())) - pad, float(np.log10(v.max())) + top]


def plot_circuit_handover(res: CircuitAblations) -> go.Figure:
    """The handover: each circuit's share of train performance over training, phases shaded.

    Row 1: share of above-chance train accuracy each circuit keeps alone (solid) and the loss-based
    share (dotted). Rows 2 and 3: train (solid) and test (dashed) accuracy and loss of the model as
    trained and with each circuit alone, i.e. with the other one removed.
    """
    t, x = res.table, res.table.index.to_numpy()
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=("share of train performance each circuit keeps alone", "accuracy", "loss (log scale)"),
    )
    for circuit, color in CIRCUIT_COLORS.items():
        fig.add_trace(
            go.Scatter(
                x=x,
                y=t[f"share_{circuit}"],
                name=f"{circuit} (accuracy share)",
                mode="lines+markers",
                marker=dict(size=3),
                line=dict(color=color),
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=t[f"share_loss_{circuit}"],
                name=f"{circuit} (loss share)",
                mode="lines",
                line=dict(color=color, dash="dot"),
            ),
            row=1,
            col=1,
        )
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey", row=1, col=1)
    series = {
        "as trained": ("", "black"),
        "generalizing alone": ("memorize_", CIRCUIT_COLORS["generalizing"]),
        "memorizing alone": ("generalize_", CIRCUIT_COLORS["memorizing"]),
    }
    for label, (prefix, color) in series.items():
        for split, dash in (("train", None), ("test", "dash")):
            for row, metric in ((2, "acc"), (3, "loss")):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=t[f"{prefix}{split}_{metric}"],
                        name=f"{label}, {split}",
                        mode="lines",
                        line=dict(color=color, dash=dash),
                        legendgroup=f"{label}{split}",
                        showlegend=row == 2,
                    ),
                    row=row,
                    col=1,
                )
    losses = np.concatenate([t[f"{pre}{s}_loss"].to_numpy() for pre, _ in series.values() for s in ("train", "test")])
    fig.update_yaxes(
        range=[
            -0.03,
            max(1.05, float(np.nanmax(t[[f"share_loss_{c}" for c in CIRCUIT_COLORS]].to_numpy(), initial=0)) + 0.05),
        ],
        row=1,
        col=1,
    )
    fig.update_yaxes(range=[-0.02, 1.02], row=2, col=1)
    fig.update_yaxes(type="log", exponentformat="power", range=_log_range(losses), row=3, col=1)
    fig.update_xaxes(title_text="step", row=3, col=1)
    shade_phases(fig, res.phases, label=False)  # named in the legend: labels on top would hit the subplot title
    for ph in res.phases:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=f"{ph.name} {ph.start}-{ph.end}",
                marker=dict(
                    size=12, symbol="square", color=PHASE_COLORS.get(ph.name, "rgba(0,0,0,0.1)").replace("0.1", "0.5")
                ),
            ),
            row=1,
            col=1,
        )
    cross = res.crossings()
    for key, color in (
        ("generalizing_up", CIRCUIT_COLORS["generalizing"]),
        ("memorizing_down", CIRCUIT_COLORS["memorizing"]),
    ):
        if cross.get(key) is not None:
            fig.add_vline(x=cross[key], line_dash="dot", line_color=color, row=1, col=1)
    ks = ", ".join(map(str, res.key_frequencies))
    fig.update_layout(
        template=TEMPLATE,
        height=900,
        title=f"{res.run}: circuit handover (key frequencies {ks}; site {res.site}, method {res.method})",
        legend=dict(groupclick="togglegroup"),
    )
    return fig


def plot_frequency_importance(res: CircuitAblations) -> go.Figure:
    """Loss increase (all pairs, log scale) when each key frequency alone is removed, at the last checkpoint."""
    imp = res.importance
    t = imp.table
    labels = [f"k = {k}" for k in t.index]
    text = [f"train acc {r.train_acc:.3f}<br>test acc {r.test_acc:.3f}" for r in t.itertuples()]
    increase = t["loss_increase"].clip(lower=1e-12)
    ln_p = float(np.log(res.p))
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=increase,
            text=text,
            textposition="outside",
            cliponaxis=False,
            marker_color=CIRCUIT_COLORS["generalizing"],
            name="loss increase",
        )
    )
    log_axis_line(fig, ln_p, "ln p (uniform)")
    # Fitted to the bars and the ln p line; the top margin holds the two lines of text above the bars.
    fig.update_yaxes(
        type="log",
        exponentformat="power",
        title_text="loss increase over all pairs (log scale)",
        range=_log_range(np.append(increase.to_numpy(dtype=float), ln_p), top=0.45),
    )
    fig.update_xaxes(title_text="key frequency removed")
    fig.update_layout(
        template=TEMPLATE,
        height=420,
        title=f"{res.run}: each key frequency removed alone at step "
        f"{imp.step} (site {imp.site}; loss as trained {imp.base['loss']:.3g})",
    )
    return fig


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "-"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 or x == 0 else f"{x:.3e}"


def _rows_table(res: CircuitAblations, circuit: str) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "step",
            "what happens",
            *(m.replace("_", " ") for m in METRICS),
            *(f"ablated {m.replace('_', ' ')}" for m in METRICS),
            "share gen.",
            "share mem.",
        )
    )
    body = []
    for step, label in key_steps(res):
        r = res.table.loc[step]
        cells = [
            str(step),
            html.escape(label),
            *(_fmt(r[m]) for m in METRICS),
            *(_fmt(r[f"{circuit}_{m}"]) for m in METRICS),
            _fmt(r["share_generalizing"]),
            _fmt(r["share_memorizing"]),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class='num'><tr>{head}</tr>{''.join(body)}</table>"


def crossing_sentence(cross: dict[str, int | None]) -> str:
    """The 50% crossings in one sentence ("never ..." for a share that does not cross)."""

    def when(key: str, event: str, never: str) -> str:
        return f"{event} at step {cross[key]}" if cross.get(key) is not None else never

    def step(key: str) -> str:
        return f"step {cross[key]}" if cross.get(key) is not None else "never"

    gen = when("generalizing_up", "first reaches 50%", "never reaches 50%")
    mem = when("memorizing_down", "falls below 50%", "never falls below 50%")
    return (
        f"The generalizing circuit's accuracy share {gen}; the memorizing circuit's {mem} (loss-based "
        f"shares: {step('loss_generalizing_up')} and {step('loss_memorizing_down')})."
    )


def render_ablation_report(res: CircuitAblations, circuit: str) -> str:
    """The ablation report as one HTML string: definitions, key steps, both figures, the JSON summary."""
    summary = res.summary(circuit)
    phases = ", ".join(f"{ph.name} {ph.start}-{ph.end}" for ph in res.phases)
    cross = res.crossings()
    parts = [
        f"<h1>grokscope: circuit ablations of {html.escape(res.run)}</h1>",
        f"<p class='muted'>{html.escape(res.task)} (p = {res.p}), {len(res.table)} checkpoint(s), "
        f"{html.escape(res.path)}</p>",
        f"<p><b>{html.escape(res.definition('generalize'))}</b><br><b>{html.escape(res.definition('memorize'))}</b></p>",
        f"<p>Phases from the Fourier analysis: {html.escape(phases)}. {html.escape(crossing_sentence(cross))}</p>",
        f"<h2>Key steps, {html.escape(circuit)} ablation</h2>",
        _rows_table(res, circuit),
    ]
    figures = {
        "Handover between the circuits": plot_circuit_handover(res),
        "Per-frequency importance": plot_frequency_importance(res),
    }
    parts += [*figure_sections(figures, id_prefix="abl"), summary_section(summary)]
    return html_page(f"grokscope: ablations of {res.run}", parts)


def write_ablation_report(
    res: CircuitAblations, path: str | Path, circuit: str = "generalize", *, inside: str | Path | None = None
) -> Path:
    """Write the standalone report to ``path`` (parents created, written atomically) and return it;
    ``inside``: the run folder, when ``path`` is in it (see :func:`~grokscope.analysis.report_page.write_page`)."""
    return write_page(path, render_ablation_report(res, circuit), inside=inside)


__all__ = [
    "CROSSING_LABELS",
    "crossing_sentence",
    "key_steps",
    "plot_circuit_handover",
    "plot_frequency_importance",
    "render_ablation_report",
    "report_file_name",
    "write_ablation_report",
]
