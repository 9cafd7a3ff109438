"""The behavioural report: one standalone HTML file (plotly.js inlined once, opens offline)."""

import html
from pathlib import Path

import plotly.graph_objects as go

from grokscope.analysis.behavior.figures import plot_failures, plot_loss_vs_behavior, plot_per_group, plot_termination
from grokscope.analysis.behavior.result import BehaviorAnalysis
from grokscope.analysis.report_page import figure_sections, html_page, summary_section, write_page

# The "exact match near zero, structure above chance" box; the rest of the style is the shared page's.
EXTRA_CSS = """
.gap { background: #fff6ec; border-left: 4px solid #ff7f0e; padding: 10px 14px; }
"""

METRIC_DEFINITIONS = {
    "exact match": "the answer, cut at the end token, equals the target character for character, and the end token came",
    "digit accuracy": "digits compared by place value (units with units, tenths with tenths) over the union of both "
    "numbers' places; a missing or surplus digit is wrong",
    "relative error": "|answer - target| / |target| (|answer| when the target is 0); the median is reported",
    "sign right": "the answer is a number with the target's sign",
    "order of magnitude right": "floor(log10 |answer|) = floor(log10 |target|)",
    "termination": "stopped at the right length, too early (shorter), or ran on (longer, or no end token at all)",
    "right to k decimals": "for decimal answers: sign, integer part and the first k decimals agree (missing decimals "
    "are zeros)",
    "right operation": "the right operation's answer is the nearest of all operations' answers (relative error, or "
    "the answer is it followed by more characters), within 50%",
    "chance": "each question answered with another question's right answer from the same split and operation: what a "
    "model that knows the answers' format but ignores the operands would score",
}


def report_figures(ba: BehaviorAnalysis) -> dict[str, go.Figure]:
    split = "test" if "test" in ba.splits else ba.splits[0]
    figs = {"Loss vs exact match vs digit-level accuracy": plot_loss_vs_behavior(ba, split=split)}
    if ba.groups:
        figs["Per operation"] = plot_per_group(ba, split=split)
    figs["Termination"] = plot_termination(ba, split=split)
    figs["Failure classes"] = plot_failures(ba, split=split)
    return figs


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def gap_sentence(gap: dict | None, what: str) -> str:
    """One line on the period where exact match is near zero while structure is above chance."""
    if gap is None:
        return (
            f"{what}: no scored checkpoint has exact match near zero with digit accuracy or magnitude "
            f"clearly above chance."
        )
    p, c = gap["at_peak"], gap["chance"]
    return (
        f"{what}: from step {gap['start']} to {gap['end']} ({gap['checkpoints']} checkpoint{'s' if gap['checkpoints'] != 1 else ''}) exact match stays at "
        f"or below {_pct(gap['exact_max'])} while digit accuracy averages {_pct(gap['digit_accuracy_mean'])} "
        f"(chance {_pct(c['digit_accuracy'])}) and the order of magnitude is right for "
        f"{_pct(gap['magnitude_correct_mean'])} (chance {_pct(c['magnitude_correct'])}). At step {gap['peak_step']}: "
        f"exact {_pct(p.get('exact'))}, digits {_pct(p.get('digit_accuracy'))}, magnitude "
        f"{_pct(p.get('magnitude_correct'))}, val loss {p.get('val_loss') or float('nan'):.3g}."
    )


def _sample_steps(ba: BehaviorAnalysis) -> list[int]:
    gap = ba.gap("test" if "test" in ba.splits else ba.splits[0])
    steps = ba.steps
    chosen = [gap["peak_step"]] if gap else [steps[len(steps) // 2]]
    return sorted(set(chosen + [steps[-1]]))


def samples_html(ba: BehaviorAnalysis, *, per_group: int = 3) -> str:
    split = "test" if "test" in ba.splits else ba.splits[0]
    parts = []
    for step in _sample_steps(ba):
        parts.append(
            f"<h3>step {step}: {per_group} questions per operation</h3>"
            + _rows_html(ba.sample_table([step], split=split, per_group=per_group))
        )
        parts.append(
            f"<h3>step {step}: one question per kind of answer</h3>"
            + _rows_html(ba.failure_examples(step, split=split))
        )
    return "".join(parts)


def _rows_html(t) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.group)}</td><td class='mono'>{html.escape(r.prompt)}</td>"
        f"<td class='mono'>{html.escape(r.target)}</td><td class='mono'>{html.escape(r.answer)}"
        f"{'' if r.stopped else ' <span class=muted>(no end token)</span>'}</td>"
        f"<td class='{'ok' if r.failure == 'exact' else 'bad'}'>{html.escape(r.description)}</td></tr>"
        for r in t.itertuples()
    )
    return (
        f"<table><tr><th>operation</th><th>input</th><th>expected</th><th>model output</th>"
        f"<th>observation</th></tr>{rows}</table>"
    )


def render_report(ba: BehaviorAnalysis) -> str:
    split = "test" if "test" in ba.splits else ba.splits[0]
    s = ba.summary()
    gaps = [gap_sentence(ba.gap(split, g), "all operations" if g == "all" else g) for g in ["all", *ba.groups]]
    defs = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in METRIC_DEFINITIONS.items())
    parts = [
        f"<h1>grokscope: behaviour of {html.escape(ba.run)}</h1>",
        f"<p class='muted'>{html.escape(ba.task)}, preset {html.escape(ba.preset)}; {s['checkpoints']} checkpoints "
        f"scored, steps {s['first_step']} to {s['last_step']}; greedy answers to {len(ba.examples)} questions "
        f"({', '.join(ba.splits)}); {html.escape(ba.path)}</p>",
        "<div class='gap'>" + "<br>".join(html.escape(g) for g in gaps) + "</div>",
    ]
    if ba.skipped:
        parts.append(
            f"<p class='bad'>Skipped {len(ba.skipped)} unreadable checkpoint(s): "
            + ", ".join(str(st) for st, _ in ba.skipped)
            + "</p>"
        )
    parts += figure_sections(report_figures(ba))
    parts.append(f"<h2>Sample predictions ({split}), each failure named</h2>{samples_html(ba)}")
    parts.append(f"<h2>The scores</h2><ul>{defs}</ul>")
    parts.append(summary_section(s))
    return html_page(f"grokscope: behaviour of {ba.run}", parts, extra_css=EXTRA_CSS)


def write_report(ba: BehaviorAnalysis, path: str | Path, *, inside: str | Path | None = None) -> Path:
    """Write the standalone report to ``path`` (parents created, atomically) and return it;
    ``inside``: the run folder, when ``path`` is in it (see :func:`~grokscope.analysis.report_page.write_page`)."""
    return write_page(path, render_report(ba), inside=inside)


__all__ = ["METRIC_DEFINITIONS", "gap_sentence", "render_report", "report_figures", "samples_html", "write_report"]
