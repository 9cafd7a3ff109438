"""Figures of the behavioural analysis: loss against exact match against digit-level accuracy.

Each ``plot_*`` takes a :class:`~grokscope.analysis.behavior.result.BehaviorAnalysis` and only draws it.
"""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grokscope.analysis.behavior.result import BehaviorAnalysis
from grokscope.analysis.behavior.score import FAILURES

TEMPLATE = "plotly_white"
COLORS = {
    "exact": "#d62728",
    "digit_accuracy": "#1f77b4",
    "magnitude_correct": "#2ca02c",
    "operation_consistent": "#9467bd",
    "sign_correct": "#8c564b",
    "char_accuracy": "#17becf",
    "decimal_match": "#e377c2",
    "train_loss": "#7f7f7f",
    "val_loss": "#111111",
}
LABELS = {
    "exact": "exact match",
    "digit_accuracy": "digit accuracy (by place value)",
    "magnitude_correct": "order of magnitude right",
    "operation_consistent": "right operation",
    "sign_correct": "sign right",
    "char_accuracy": "character accuracy",
    "decimal_match": "right to k decimals",
    "stopped_right": "stopped at the right place",
    "stopped_early": "stopped too early",
    "ran_on": "ran on past the answer",
}
GAP_COLOR = "rgba(255,127,14,0.13)"


def _numeric_task(ba: BehaviorAnalysis) -> bool:
    return bool(ba.table["digit_accuracy"].notna().any())


def main_metrics(ba: BehaviorAnalysis) -> list[str]:
    """Exact match first, then the partial-correctness scores that apply to this task."""
    if not _numeric_task(ba):
        return ["exact", "char_accuracy"]
    extra = [m for m in ("operation_consistent", "decimal_match") if ba.table[m].notna().any()]
    return ["exact", "digit_accuracy", "magnitude_correct", *extra]


def shade_gap(fig: go.Figure, gap: dict | None, **where) -> None:
    if gap is not None:
        fig.add_vrect(x0=gap["start"], x1=gap["end"], fillcolor=GAP_COLOR, line_width=0, layer="below", **where)


def plot_loss_vs_behavior(ba: BehaviorAnalysis, *, split: str = "test", group: str = "all") -> go.Figure:
    """Loss (right axis, log) against exact match and the partial-correctness scores (left axis), chance dotted.

    The shaded band is :meth:`BehaviorAnalysis.gap`: exact match near zero while structure is above chance.
    """
    s, chance = ba.series(split, group), ba.chance_of(split, group)
    x = s.index.to_numpy()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for m in main_metrics(ba):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=s[m],
                name=LABELS[m],
                mode="lines+markers",
                marker=dict(size=4),
                line=dict(color=COLORS[m], width=3 if m == "exact" else 2),
            ),
            secondary_y=False,
        )
        if m in chance and m != "exact":
            fig.add_trace(
                go.Scatter(
                    x=[x.min(), x.max()],
                    y=[chance[m]] * 2,
                    name=f"chance: {LABELS[m]}",
                    mode="lines",
                    line=dict(color=COLORS[m], dash="dot", width=1),
                ),
                secondary_y=False,
            )
    for col in ("train_loss", "val_loss"):
        if col in s and s[col].notna().any():
            fig.add_trace(
                go.Scatter(
                    x=x, y=s[col], name=col.replace("_", " "), mode="lines", line=dict(color=COLORS[col], dash="dash")
                ),
                secondary_y=True,
            )
    shade_gap(fig, ba.gap(split, group))
    fig.update_yaxes(title_text="fraction of answers", range=[-0.02, 1.02], secondary_y=False)
    fig.update_yaxes(title_text="cross-entropy loss (log)", type="log", secondary_y=True, showgrid=False)
    fig.update_xaxes(title_text="step")
    fig.update_layout(
        template=TEMPLATE,
        height=480,
        legend=dict(orientation="v", x=1.08),
        title=f"{ba.run}: loss vs exact match vs digit-level accuracy ({split}, {group})",
    )
    return fig


def plot_per_group(ba: BehaviorAnalysis, *, split: str = "test") -> go.Figure:
    """One panel per operation (group): exact match and the partial scores, chance dotted, gap shaded."""
    groups = ba.groups or ["all"]
    cols = min(len(groups), 2)
    rows = (len(groups) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=groups, shared_yaxes=True, vertical_spacing=0.12)
    for i, g in enumerate(groups):
        r, c = i // cols + 1, i % cols + 1
        s, chance = ba.series(split, g), ba.chance_of(split, g)
        x = s.index.to_numpy()
        for m in main_metrics(ba):
            if s[m].notna().any():
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=s[m],
                        name=LABELS[m],
                        legendgroup=m,
                        showlegend=i == 0,
                        mode="lines",
                        line=dict(color=COLORS[m], width=3 if m == "exact" else 2),
                    ),
                    row=r,
                    col=c,
                )
            if m in chance and m != "exact" and chance[m] == chance[m]:
                fig.add_trace(
                    go.Scatter(
                        x=[x.min(), x.max()],
                        y=[chance[m]] * 2,
                        mode="lines",
                        showlegend=False,
                        line=dict(color=COLORS[m], dash="dot", width=1),
                        hoverinfo="skip",
                        name=f"chance: {LABELS[m]}",
                    ),
                    row=r,
                    col=c,
                )
        shade_gap(fig, ba.gap(split, g), row=r, col=c)
    fig.update_yaxes(range=[-0.02, 1.02])
    fig.update_xaxes(title_text="step", row=rows)
    fig.update_layout(
        template=TEMPLATE,
        height=300 * rows + 80,
        title=f"per operation ({split}); dotted: chance (other questions' answers)",
    )
    return fig


def plot_termination(ba: BehaviorAnalysis, *, split: str = "test", group: str = "all") -> go.Figure:
    """Where the model stops: at the answer's end, too early, or past it (stacked)."""
    s = ba.series(split, group)
    fig = go.Figure()
    for m, color in (("stopped_right", "#2ca02c"), ("stopped_early", "#ff7f0e"), ("ran_on", "#d62728")):
        fig.add_trace(
            go.Scatter(
                x=s.index, y=s[m], name=LABELS[m], stackgroup="t", mode="lines", line=dict(color=color, width=0.5)
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        height=340,
        title=f"termination ({split}, {group})",
        xaxis_title="step",
        yaxis=dict(title="fraction of answers", range=[0, 1]),
    )
    return fig


def plot_failures(ba: BehaviorAnalysis, *, split: str = "test", group: str = "all") -> go.Figure:
    """Share of each failure class over training (stacked): what kind of wrong the wrong answers are."""
    s = ba.series(split, group)
    fig = go.Figure()
    for name in FAILURES:
        col = f"fail_{name}"
        if col in s and s[col].max() > 0:
            fig.add_trace(
                go.Scatter(
                    x=s.index,
                    y=s[col],
                    name=name.replace("_", " "),
                    stackgroup="f",
                    mode="lines",
                    line=dict(width=0.5),
                    hovertemplate=f"{FAILURES[name]}: %{{y:.2f}}<extra></extra>",
                )
            )
    fig.update_layout(
        template=TEMPLATE,
        height=380,
        title=f"failure classes over training ({split}, {group})",
        xaxis_title="step",
        yaxis=dict(title="fraction of answers", range=[0, 1]),
    )
    return fig


__all__ = ["main_metrics", "plot_failures", "plot_loss_vs_behavior", "plot_per_group", "plot_termination", "shade_gap"]
