"""Figures of a sweep, drawn from its table (:func:`grokscope.sweeps.report.sweep_table`), and the HTML report.

Computing is :mod:`grokscope.sweeps.report`'s; this module only draws what the table holds:

- for each swept variable, the steps to grok (first step at 99% test accuracy) against it, every
  run a marker, with the median and the min-max band over the runs at each value (seeds and the
  other swept options); runs that never grokked are drawn as open markers above the data, failed
  runs as crosses, so no run silently disappears;
- with exactly two swept variables besides the seed, the phase diagram: each cell's phase
  (:mod:`grokscope.sweeps.phases`), the majority over its seeds;
- with a Fourier analysis in the table, how often each frequency is a key frequency.
"""

import html
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from grokscope.sweeps.phases import PHASES
from grokscope.sweeps.report import value_column
from grokscope.sweeps.spec import SweepSpec, format_value

if TYPE_CHECKING:
    import pandas as pd

TEMPLATE = "plotly_white"
# Okabe-Ito colours: told apart with every common colour-vision deficiency.
PHASE_COLORS = {"comprehension": "#009E73", "grokking": "#D55E00", "memorization": "#56B4E9", "confusion": "#999999"}
SERIES_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
RUN_COLOR, MEDIAN_COLOR, BAND_COLOR, FAILED_COLOR = "#0072B2", "#222222", "rgba(0,114,178,0.13)", "#C0392B"
# Axis titles, with units where the option has one.
LABELS = {
    "task": "task",
    "op": "operation",
    "seed": "seed",
    "frac": "training fraction (share of all p² pairs)",
    "preset": "model preset",
    "steps": "step budget (optimizer steps)",
    "stop_after_grok": "steps trained on after grokking",
    "lr": "learning rate (AdamW peak)",
    "weight_decay": "weight decay (AdamW, decoupled)",
    "batch_size": "batch size (examples per step)",
    "eval_every": "evaluation interval (steps)",
    "ckpt_every": "checkpoint interval (steps)",
    "block_size": "context length (characters)",
    "dropout": "dropout probability",
    "warmup": "warm-up (steps)",
    "min_lr": "final learning rate",
    "decimals": "decimals",
    "n_train": "training examples",
    "n_test": "test examples",
}
GROK_COLUMN = "test_99"


def label(option: str) -> str:
    """An option's axis title (with its unit)."""
    return LABELS.get(option, option.replace("_", " "))


def variables(spec: SweepSpec) -> list[str]:
    """The swept options drawn as variables: every swept option but the seed (a replication), or the
    seed alone when nothing else is swept."""
    swept = spec.swept
    rest = [k for k in swept if k != "seed"]
    return rest or [k for k in swept if k == "seed"]


def _log_ticks(lo: float, hi: float) -> list[int]:
    """1, 2, 5 times the powers of ten between ``lo`` and ``hi``."""
    out = []
    for power in range(max(math.floor(math.log10(max(lo, 1))), 0), math.ceil(math.log10(max(hi, 1))) + 1):
        out += [m * 10**power for m in (1, 2, 5) if lo <= m * 10**power <= hi]
    return out


def sweep_figures(table: "pd.DataFrame", spec: SweepSpec) -> list[go.Figure]:
    """Every figure of the sweep: steps to grok per swept variable, the phase diagram (two variables
    besides the seed), and the key-frequency histogram (a table made with ``analyze=True``)."""
    return [fig for _, fig in _figures(table, spec)]


def _figures(table: "pd.DataFrame", spec: SweepSpec) -> list[tuple[str, go.Figure]]:
    out = [(f"Steps to grok vs {label(v)}", plot_steps_to_grok(table, spec, v)) for v in variables(spec)]
    if len([k for k in spec.swept if k != "seed"]) == 2:
        out.append(("Phase diagram", plot_phase_diagram(table, spec)))
    if "key_frequencies" in table and any(isinstance(k, list) and k for k in table["key_frequencies"]):
        out.append(("Key frequencies", plot_key_frequencies(table)))
    return out


# -- steps to grok ------------------------------------------------------------------------------


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _records(table: "pd.DataFrame") -> list[dict[str, Any]]:
    """The table's rows as plain dicts, with None for every missing value (pandas' NA and NaN alike)."""
    import pandas as pd

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return v
        if v is None or pd.isna(v):
            return None
        return v.item() if hasattr(v, "item") else v

    return [{k: plain(v) for k, v in row.items()} for row in table.to_dict("records")]


def _hover(row: dict[str, Any], spec: SweepSpec) -> str:
    """A run's hover text: its name, its swept values and its results."""
    lines = [f"<b>{html.escape(str(row['run']))}</b>"]
    lines += [f"{k} = {html.escape(format_value(row.get(value_column(k))))}" for k in spec.swept]
    test, train = row.get("test_99"), row.get("train_99")
    last = row.get("steps")
    lines.append(
        f"test 99% at step {test:,}"
        if test is not None
        else f"test never reached 99% (last step {last:,})"
        if last is not None
        else "no metrics"
    )
    if train is not None:
        lines.append(
            f"train 99% at step {train:,}"
            + (f" (test {test - train:+,} steps later)" if test is not None and test >= train else "")
        )
    phase = row.get("phase")
    if phase is not None:
        lines.append(f"phase: {phase}")
    state, reason = row.get("state"), row.get("reason")
    if state != "done":
        lines.append(f"state: {state}" + (f" ({html.escape(str(reason)[:160])})" if reason else ""))
    return "<br>".join(lines)


def _jitter(n: int, width: float) -> list[float]:
    """Offsets spreading ``n`` markers at one value symmetrically over ``[-width, width]``."""
    if n <= 1:
        return [0.0] * n
    return [-width + 2 * width * i / (n - 1) for i in range(n)]


def plot_steps_to_grok(table: "pd.DataFrame", spec: SweepSpec, option: str) -> go.Figure:
    """First step at 99% test accuracy against ``option``: one marker per run, the median over the runs
    at each value (a run that never grokked counts as later than any that did, so where most never
    did the median sits, open, on the "never" line) and their min-max band; never-grokked runs as
    open markers on that line above the data, failed ones as crosses."""
    col = value_column(option)
    values = list(dict(spec.axes)[option])
    numeric = _numeric(values)
    log_x = numeric and min(values) > 0 and max(values) / min(values) >= 20
    # Positions in axis units (log10 of the value on a log axis, the index on a categorical one).
    if not numeric:
        unit = {v: float(i) for i, v in enumerate(values)}
    else:
        unit = {v: math.log10(v) if log_x else float(v) for v in values}
    us = sorted(unit.values())
    gaps = [b - a for a, b in itertools.pairwise(us) if b > a]
    width = 0.18 if not numeric else 0.16 * (min(gaps) if gaps else 1.0)

    def x_of(u: float) -> float:
        return 10**u if log_x else u

    others = [k for k in variables(spec) if k != option]
    color_by = others[0] if len(others) == 1 and len(dict(spec.axes)[others[0]]) <= len(SERIES_COLORS) else None
    color_values = list(dict(spec.axes)[color_by]) if color_by else [None]

    rows = _records(table)
    grokked = [r for r in rows if r.get(GROK_COLUMN) is not None]
    never = [r for r in rows if r.get(GROK_COLUMN) is None and r.get("state") == "done"]
    failed = [r for r in rows if r.get(GROK_COLUMN) is None and r.get("state") == "failed"]
    unfinished = len(rows) - len(grokked) - len(never) - len(failed)
    seen = [max(r[GROK_COLUMN], 1) for r in grokked] + [r.get("steps") or 1 for r in never]
    top = max(seen, default=1000) * 1.8  # the "never" line, above every measured step
    bottom = min([max(r[GROK_COLUMN], 1) for r in grokked], default=top / 10) / 1.6

    drawn = {r["run"] for r in grokked + never + failed}
    positions: dict[str, float] = {}  # run -> jittered x
    for v in values:
        cell = [r for r in rows if r.get(col) == v and r["run"] in drawn]
        for r, off in zip(cell, _jitter(len(cell), width)):
            positions[r["run"]] = x_of(unit[v] + off)

    fig = go.Figure()
    stats = []
    for v in values:
        at = [max(r[GROK_COLUMN], 1) for r in grokked if r.get(col) == v]
        n_never = sum(r.get(col) == v for r in never)
        if not at and not n_never:
            continue
        med = statistics.median(at + [math.inf] * n_never)
        stats.append(
            (v, min(at) if at else None, top if n_never else max(at, default=None), med, len(at) + n_never, n_never)
        )
    if option == "seed":  # seeds are not an axis: their median and range, across the plot
        _pooled(fig, [max(r[GROK_COLUMN], 1) for r in grokked], len(never), top)
    else:
        _per_value(fig, stats, values, unit, width, x_of, option, top)

    def color_of(r: dict[str, Any]) -> str:
        if color_by is None:
            return RUN_COLOR
        return SERIES_COLORS[color_values.index(r.get(value_column(color_by)))]

    for cv in color_values:
        group = [r for r in grokked if color_by is None or r.get(value_column(color_by)) == cv]
        late = [r for r in never if color_by is None or r.get(value_column(color_by)) == cv]
        name = "each run" if color_by is None else f"{color_by} = {format_value(cv)}"
        color = RUN_COLOR if color_by is None else SERIES_COLORS[color_values.index(cv)]
        if group:
            fig.add_trace(
                go.Scatter(
                    x=[positions[r["run"]] for r in group],
                    y=[max(r[GROK_COLUMN], 1) for r in group],
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    marker={"color": color, "size": 9, "opacity": 0.85, "line": {"width": 1, "color": "white"}},
                    hovertext=[_hover(r, spec) for r in group],
                    hoverinfo="text",
                )
            )
        if late:
            fig.add_trace(
                go.Scatter(
                    x=[positions[r["run"]] for r in late],
                    y=[top] * len(late),
                    mode="markers",
                    name=f"{name}: never reached 99%" if color_by else "never reached 99% (drawn at the top)",
                    legendgroup=name,
                    marker={"symbol": "circle-open", "color": color, "size": 11, "line": {"width": 2}},
                    hovertext=[_hover(r, spec) for r in late],
                    hoverinfo="text",
                )
            )
    trained = [r for r in grokked + never if r.get("train_99") is not None]
    if trained:
        fig.add_trace(
            go.Scatter(
                x=[positions[r["run"]] for r in trained],
                y=[max(r["train_99"], 1) for r in trained],
                mode="markers",
                name="train reached 99% (each run)",
                visible="legendonly",
                marker={"symbol": "triangle-down", "size": 7, "color": [color_of(r) for r in trained], "opacity": 0.5},
                hovertext=[_hover(r, spec) for r in trained],
                hoverinfo="text",
            )
        )
    if failed:
        fig.add_trace(
            go.Scatter(
                x=[positions[r["run"]] for r in failed],
                y=[top] * len(failed),
                mode="markers",
                name="failed",
                marker={"symbol": "x-thin-open", "size": 12, "color": FAILED_COLOR, "line": {"width": 2.5}},
                hovertext=[_hover(r, spec) for r in failed],
                hoverinfo="text",
            )
        )
    if never or failed:
        _hline(
            fig,
            float(top),
            "never reached 99% test accuracy (by the run's last step)",
            color="rgba(0,0,0,0.35)",
            dash="dot",
            text_color="#555",
            where="left",
        )

    n = len(rows)
    spread = [k for k in spec.swept if k != option]
    over = (
        "the runs at each value"
        if not spread
        else "the runs at each value (" + ", ".join("seeds" if k == "seed" else k for k in spread) + ")"
    )
    if option == "seed":
        over = "all seeds"
    notes = [f"{len(grokked)} of {n} runs grokked"]
    if never:
        notes.append(f"{len(never)} never did")
    if failed:
        notes.append(f"{len(failed)} failed")
    if unfinished:
        notes.append(f"{unfinished} not finished (not drawn)")
    fig.update_layout(
        template=TEMPLATE,
        height=480,
        hovermode="closest",
        title={
            "text": f"Steps to grok vs {label(option)}<br><sup>median and min-max band over {over}; "
            f"{', '.join(notes)}</sup>"
        },
        legend={"title": {"text": "runs"}, "tracegroupgap": 4},
        margin={"t": 90},
    )
    ticks = _log_ticks(bottom, top * 1.5)  # 1-2-5 steps written out: plotly labels minor log ticks "2", "5"
    fig.update_yaxes(
        type="log",
        title_text="steps to 99% test accuracy (log scale)",
        range=[math.log10(bottom), math.log10(top * 1.5)],
        tickvals=ticks,
        ticktext=[f"{t:,}" for t in ticks],
    )
    if numeric:
        fig.update_xaxes(
            type="log" if log_x else "linear",
            title_text=label(option) + (" (log scale)" if log_x else ""),
            tickvals=values if len(values) <= 12 else None,
            ticktext=[format_value(v) for v in values] if len(values) <= 12 else None,
        )
    else:
        fig.update_xaxes(
            title_text=label(option),
            tickvals=list(range(len(values))),
            ticktext=[format_value(v) for v in values],
            range=[-0.6, len(values) - 0.4],
        )
    return fig


def _pooled(fig: go.Figure, at: list[int], never: int, top: float) -> None:
    """The median (a line) and the min-max range (a band) over all runs (``at``: the steps of those that
    grokked; ``never``: how many did not), for a sweep of seeds alone."""
    n = len(at) + never
    if not n:
        return
    med = statistics.median(at + [math.inf] * never)
    if at:
        fig.add_hrect(y0=min(at), y1=top if never else max(at), fillcolor=BAND_COLOR, line_width=0, layer="below")
    text = "never" if math.isinf(med) else f"{med:,.0f} steps"
    _hline(
        fig,
        float(top if math.isinf(med) else med),
        f"median over {n} seeds: {text}",
        color=MEDIAN_COLOR,
        dash="solid",
        text_color=MEDIAN_COLOR,
        where="right",
    )


def _hline(fig: go.Figure, y: float, text: str, *, color: str, dash: str, text_color: str, where: str) -> None:
    """A horizontal line across the plot at ``y`` on the log step axis, labelled just above it.

    The label is placed by hand: an annotation's y on a log axis is in log10 units, which
    ``add_hline(annotation_text=...)`` does not do (plotly.py issue #2580), so it would land off the plot.
    """
    fig.add_hline(y=y, line_dash=dash, line_color=color, line_width=1.5 if dash == "dot" else 2)
    fig.add_annotation(
        x=0.01 if where == "left" else 0.99,
        xref="x domain",
        xanchor=where,
        y=math.log10(y),
        yref="y",
        yanchor="bottom",
        text=text,
        showarrow=False,
        font={"size": 11, "color": text_color},
    )


def _per_value(
    fig: go.Figure,
    stats: list[tuple],
    values: list[Any],
    unit: dict[Any, float],
    width: float,
    x_of: Any,
    option: str,
    top: float,
) -> None:
    """The min-max band and the median line over the runs at each value of ``option`` (``top``: the
    "never" line)."""
    band_x, band_y = [], []
    for segment in _segments([s for s in stats if s[1] is not None], values):
        us_seg = [unit[s[0]] for s in segment]
        if len(segment) == 1:  # one value alone: a box of the markers' width instead of a line
            us_seg = [us_seg[0] - width * 1.3, us_seg[0] + width * 1.3]
            segment = segment * 2
        band_x += [x_of(u) for u in us_seg] + [x_of(u) for u in reversed(us_seg)] + [None]
        band_y += [s[2] for s in segment] + [s[1] for s in reversed(segment)] + [None]
    if band_x:
        fig.add_trace(
            go.Scatter(
                x=band_x,
                y=band_y,
                fill="toself",
                fillcolor=BAND_COLOR,
                line={"width": 0},
                mode="lines",
                name="min-max over runs",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[x_of(unit[s[0]]) for s in stats],
            y=[top if math.isinf(s[3]) else s[3] for s in stats],
            mode="lines+markers",
            name="median",
            line={"color": MEDIAN_COLOR, "width": 2.5},
            marker={
                "symbol": ["diamond-open" if math.isinf(s[3]) else "diamond" for s in stats],
                "size": 10,
                "color": MEDIAN_COLOR,
            },
            hovertext=[
                f"{option} = {html.escape(format_value(s[0]))}<br>median of {s[4]} run(s): "
                + ("never (most never reached 99%)" if math.isinf(s[3]) else f"{s[3]:,.0f} steps")
                + (f"<br>{s[5]} of {s[4]} never reached 99%" if s[5] else "")
                for s in stats
            ],
            hoverinfo="text",
        )
    )


def _segments(stats: list[tuple], values: list[Any]) -> list[list[tuple]]:
    """Runs of consecutive values (in grid order) that all have a band, so a band never bridges a gap."""
    order = {v: i for i, v in enumerate(values)}
    out: list[list[tuple]] = []
    for s in stats:
        if out and order[s[0]] == order[out[-1][-1][0]] + 1:
            out[-1].append(s)
        else:
            out.append([s])
    return out


# -- phase diagram ------------------------------------------------------------------------------


def plot_phase_diagram(table: "pd.DataFrame", spec: SweepSpec) -> go.Figure:
    """Each cell of the two swept variables (seed aside) coloured by its phase, the majority over its
    finished runs (a tie goes to the phase that generalises sooner, in the order of :data:`PHASES`, and
    is marked); the hover text gives every phase's count and the median steps to grok."""
    xo, yo = [k for k in spec.swept if k != "seed"][:2]
    xs, ys = list(dict(spec.axes)[xo]), list(dict(spec.axes)[yo])
    rows = _records(table)
    z, text, hover = [], [], []
    for yv in ys:
        z_row: list[int | None] = []
        t_row: list[str] = []
        h_row: list[str] = []
        for xv in xs:
            cell = [r for r in rows if r.get(value_column(xo)) == xv and r.get(value_column(yo)) == yv]
            counts = Counter(r.get("phase") for r in cell if r.get("phase") is not None)
            where = f"{xo} = {html.escape(format_value(xv))}, {yo} = {html.escape(format_value(yv))}"
            if not counts:
                z_row.append(None)
                t_row.append("")
                h_row.append(f"{where}<br>no finished run ({len(cell)} run(s) in this cell)")
                continue
            best = max(counts.values())
            tied = [ph for ph in PHASES if counts.get(ph) == best]
            phase = tied[0]
            n = sum(counts.values())
            grok = [r[GROK_COLUMN] for r in cell if r.get(GROK_COLUMN) is not None]
            z_row.append(PHASES.index(phase))
            t_row.append(f"{phase}<br>{best}/{n}" + (" (tie)" if len(tied) > 1 else ""))
            h_row.append(
                "<br>".join(
                    [
                        where,
                        f"<b>{phase}</b>: {best} of {n} finished run(s)"
                        + (f" (tied with {', '.join(tied[1:])})" if len(tied) > 1 else ""),
                        " · ".join(f"{ph} {counts[ph]}" for ph in PHASES if counts.get(ph)),
                        f"median steps to 99% test: {statistics.median(grok):,.0f}"
                        if grok
                        else "no run reached 99% test",
                        f"runs: {html.escape(', '.join(str(r['run']) for r in cell)[:200])}",
                    ]
                )
            )
        z.append(z_row)
        text.append(t_row)
        hover.append(h_row)
    k = len(PHASES)
    scale = []
    for i, ph in enumerate(PHASES):
        scale += [[i / k, PHASE_COLORS[ph]], [(i + 1) / k, PHASE_COLORS[ph]]]
    fig = go.Figure(
        go.Heatmap(
            x=[format_value(v) for v in xs],
            y=[format_value(v) for v in ys],
            z=z,
            zmin=-0.5,
            zmax=k - 0.5,
            colorscale=scale,
            showscale=False,
            xgap=3,
            ygap=3,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 12, "color": "black"},
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    for ph in PHASES:  # a legend of the phases (the heatmap's own colour bar cannot be discrete)
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=ph,
                showlegend=True,
                marker={"symbol": "square", "size": 14, "color": PHASE_COLORS[ph]},
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        height=max(360, 90 + 70 * len(ys)),
        title={
            "text": f"Phase diagram: {label(xo)} x {label(yo)}<br><sup>each cell's phase is the majority over "
            "its finished runs (seeds); Liu et al.'s rule, grokscope.sweeps.phases</sup>"
        },
        legend={"title": {"text": "phase"}},
        margin={"t": 90},
        plot_bgcolor="#f4f4f4",
    )
    fig.update_xaxes(type="category", title_text=label(xo), showgrid=False)
    fig.update_yaxes(type="category", title_text=label(yo), showgrid=False)
    return fig


# -- key frequencies ----------------------------------------------------------------------------


def plot_key_frequencies(table: "pd.DataFrame") -> go.Figure:
    """How many analysed runs have each frequency among their key frequencies (stacked by task when
    the sweep spans tasks: a frequency means something only for one modulus)."""
    rows = [r for r in _records(table) if isinstance(r.get("key_frequencies"), list)]
    by_task = "task" in table.columns and table["task"].nunique() > 1
    groups: dict[str, list[Any]] = {}
    for r in rows:
        groups.setdefault(str(r.get("task")) if by_task else "", []).append(r)
    fig = go.Figure()
    for i, (task, members) in enumerate(groups.items()):
        counts: Counter = Counter()
        holders: dict[int, list[str]] = {}
        for r in members:
            for k in set(r.get("key_frequencies")):
                counts[k] += 1
                holders.setdefault(k, []).append(str(r["run"]))
        ks = sorted(counts)
        fig.add_trace(
            go.Bar(
                x=ks,
                y=[counts[k] for k in ks],
                name=task or "runs",
                marker_color=SERIES_COLORS[i % len(SERIES_COLORS)] if by_task else RUN_COLOR,
                hovertext=[
                    f"k = {k}{f' ({html.escape(task)})' if task else ''}: a key frequency of {counts[k]} of "
                    f"{len(members)} analysed run(s)<br>{html.escape(', '.join(holders[k])[:240])}"
                    for k in ks
                ],
                hoverinfo="text",
                showlegend=by_task,
            )
        )
    per_run = [len(r["key_frequencies"]) for r in rows]
    fig.update_layout(
        template=TEMPLATE,
        height=400,
        barmode="stack",
        bargap=0.15,
        title={
            "text": f"Key frequencies across {len(rows)} analysed run(s)<br><sup>"
            f"{statistics.median(per_run) if per_run else 0:g} key frequencies per run (median); "
            "the Fourier analysis, grokscope.analysis.fourier</sup>"
        },
        margin={"t": 90},
    )
    largest = max((k for r in rows for k in r["key_frequencies"]), default=0)
    fig.update_xaxes(title_text="frequency k (cycles over the p residues)", dtick=1 if largest <= 30 else None)
    fig.update_yaxes(title_text="runs with k as a key frequency", dtick=1 if len(rows) <= 10 else None)
    return fig


# -- the report ---------------------------------------------------------------------------------

_EXTRA_CSS = """
.chip { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
table.runs td { white-space: nowrap; } table.runs td.reason { white-space: normal; max-width: 420px; }
"""


def _cell(v: Any) -> str:
    if v is None:
        return "<span class='muted'>-</span>"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return html.escape(", ".join(map(str, v)))
    return html.escape(str(v))


def _summary(table: "pd.DataFrame", spec: SweepSpec) -> str:
    states = Counter(str(s) for s in table["state"])
    phases = Counter(str(p) for p in table["phase"] if p is not None and not (isinstance(p, float) and math.isnan(p)))
    state_cells = "".join(f"<tr><td>{html.escape(s)}</td><td>{n}</td></tr>" for s, n in states.items())
    phase_cells = "".join(
        f"<tr><td><span class='chip' style='background:{PHASE_COLORS[ph]}'></span>{ph}</td><td>{phases[ph]}</td></tr>"
        for ph in PHASES
        if phases.get(ph)
    )
    fixed = ", ".join(f"{html.escape(k)} = {html.escape(format_value(v))}" for k, v in spec.fixed.items())
    swept = "; ".join(
        f"{html.escape(k)}: {html.escape(', '.join(format_value(x) for x in dict(spec.axes)[k]))}" for k in spec.swept
    )
    return (
        f"<p class='muted'>{html.escape(spec.describe())}. Swept: {swept or 'nothing'}. Fixed: {fixed}.</p>"
        "<div style='display:flex; gap:40px; flex-wrap:wrap'>"
        f"<div><h2>Runs</h2><table class='num'><tr><th>state</th><th>runs</th></tr>{state_cells}"
        f"<tr><th>total</th><th>{len(table)}</th></tr></table></div>"
        f"<div><h2>Phases</h2><table class='num'><tr><th>phase</th><th>runs</th></tr>"
        f"{phase_cells or '<tr><td colspan=2 class=muted>no finished modular run</td></tr>'}</table>"
        f"<p class='muted'>{_rule_text(table)}</p></div></div>"
    )


def _rule_text(table: "pd.DataFrame") -> str:
    rule = table.attrs.get("phase_rule")
    if not isinstance(rule, dict):
        return "Liu et al.'s rule on train and test accuracy (grokscope.sweeps.phases)."
    acc, window = rule.get("accuracy"), rule.get("window")
    return (
        f"Liu et al.'s rule (grokscope.sweeps.phases): accuracy {html.escape(str(acc))}; grokking when test "
        f"reaches it more than {html.escape(str(window))} steps after train."
    )


def _runs_table(table: "pd.DataFrame", spec: SweepSpec) -> str:
    cols = [
        "run",
        "state",
        *(value_column(k) for k in spec.swept),
        "train_99",
        "test_99",
        "steps",
        "final_train_loss",
        "final_test_loss",
        "weight_norm",
        "phase",
        "wall_s",
    ]
    if table["best_score"].notna().any():
        cols.insert(cols.index("phase"), "best_score")
    if "key_frequencies" in table:
        cols.append("key_frequencies")
    if table["reason"].notna().any():
        cols.append("reason")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in _records(table):
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "phase" and v in PHASE_COLORS:
                cells.append(f"<td><span class='chip' style='background:{PHASE_COLORS[v]}'></span>{v}</td>")
            elif c == "reason":
                cells.append(f"<td class='reason'>{_cell(v)}</td>")
            else:
                cells.append(f"<td>{_cell(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<h2>Every run</h2><table class='num runs'><tr>{head}</tr>{''.join(body)}</table>"
        "<p class='muted'>train_99 / test_99: first evaluated step at 99% accuracy; steps: last evaluated "
        "step; weight_norm: L2 norm of all weights at the last evaluation; wall_s: seconds of the run's "
        "last attempt.</p>"
    )


def render_sweep_report(table: "pd.DataFrame", spec: SweepSpec, *, title: str | None = None) -> str:
    """The report as one standalone HTML string (plotly.js inlined once)."""
    from grokscope.analysis.report_page import figure_sections, html_page

    title = title or f"grokscope sweep: {spec.describe()}"
    figures: dict[str, go.Figure] = {}
    for heading, fig in _figures(table, spec):
        figures[heading if heading not in figures else f"{heading} ({len(figures)})"] = fig
    body = [
        f"<h1>{html.escape(title)}</h1>",
        _summary(table, spec),
        *figure_sections(figures, id_prefix="sweepfig"),
        _runs_table(table, spec),
    ]
    return html_page(title, body, extra_css=_EXTRA_CSS)


def write_sweep_report(
    table: "pd.DataFrame",
    spec: SweepSpec,
    path: str | Path,
    *,
    title: str | None = None,
    inside: str | Path | None = None,
) -> Path:
    """Write the standalone HTML report (summary, every figure, every run) to ``path`` atomically.

    ``inside``: the sweep folder, when ``path`` lies in it: the write then never goes through a
    link there (:func:`grokscope.analysis.report_page.write_page`).
    """
    from grokscope.analysis.report_page import write_page

    return write_page(path, render_sweep_report(table, spec, title=title), inside=inside)


__all__ = [
    "LABELS",
    "PHASE_COLORS",
    "label",
    "plot_key_frequencies",
    "plot_phase_diagram",
    "plot_steps_to_grok",
    "render_sweep_report",
    "sweep_figures",
    "variables",
    "write_sweep_report",
]
