"""One standalone HTML report per analysis: plotly.js inlined once, opens offline, no server."""

import html
from pathlib import Path

import plotly.graph_objects as go

from grokscope.analysis.fourier.pipeline import FINAL_COLUMNS, FourierAnalysis
from grokscope.analysis.report_page import figure_sections, html_page, summary_section, write_page

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
.handover { background: #f7f7fb; border-left: 4px solid #7b7bd1; padding: 10px 14px; }
.warn { color: #a33; } .muted { color: #777; font-size: 0.9em; }
.figure { margin: 18px 0 28px; }
"""


def report_figures(fa: FourierAnalysis) -> dict[str, go.Figure]:
    """The report's figures, by section title, in order."""
    from grokscope.analysis.fourier.figures import (
        plot_embedding_norms,
        plot_key_frequency_emergence,
        plot_logit_spectrum,
        plot_neuron_clusters,
    )
    from grokscope.analysis.fourier.progress_figures import plot_losses, plot_progress_measures

    return {
        "Loss and accuracy": plot_losses(fa),
        "Progress measures": plot_progress_measures(fa),
        "Embedding and logit-map Fourier norms": plot_embedding_norms(fa),
        "Neuron clusters by frequency": plot_neuron_clusters(fa),
        "Logits' 2D Fourier spectrum": plot_logit_spectrum(fa),
        "Key frequencies emerging over time": plot_key_frequency_emergence(fa),
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if 1e-3 <= abs(x) < 1e5 or x == 0 else f"{x:.3e}"


def _header(fa: FourierAnalysis) -> str:
    s = fa.summary()
    rows = "".join(f"<tr><td>{html.escape(ph['name'])}</td><td>{ph['start']}</td><td>{ph['end']}</td>"
                   f"<td>{'yes' if ph['reached'] else 'no (run stopped inside it)'}</td></tr>" for ph in s["phases"])
    final = "".join(f"<tr><td>{c}</td><td>{_fmt(s['final'].get(c))}</td></tr>" for c in FINAL_COLUMNS if c in s["final"])
    checks = s["checks"]
    skipped = ""
    if fa.skipped:
        items = "".join(f"<li>step {st}: {html.escape(r)}</li>" for st, r in fa.skipped)
        skipped = f"<p class='warn'>Skipped {len(fa.skipped)} unreadable checkpoint(s):</p><ul class='warn'>{items}</ul>"
    keys = ", ".join(map(str, fa.key_frequencies)) or "none found"
    return f"""
<h1>grokscope: Fourier analysis of {html.escape(fa.run)}</h1>
<p class="muted">{html.escape(fa.task)} (p = {fa.p}, {fa.n_train} training pairs), {s['checkpoints']} checkpoints,
steps {s['first_step']} to {s['last_step']}; {html.escape(fa.path)}</p>
<p><b>Key frequencies:</b> {keys}. They carry {checks['logit_map_share']:.1%} of W_L's and
{checks['embed_share']:.1%} of W_E's non-constant Fourier energy (frequencies strong in W_E:
{', '.join(map(str, checks['embed_strong']))}; in W_L: {', '.join(map(str, checks['logit_map_strong']))}).</p>
<div class="handover">{html.escape(fa.handover)}</div>
{skipped}
<div style="display:flex; gap:40px; flex-wrap:wrap">
<div><h2>Phases</h2><table><tr><th>phase</th><th>start</th><th>end</th><th>complete</th></tr>{rows}</table></div>
<div><h2>Final measures (step {s['last_step']})</h2><table>{final}</table></div>
</div>
<p class="muted">Restricted loss: logits on all p&sup2; pairs kept only along cos/sin(w<sub>k</sub>(a+b)) for the key
frequencies, plus their mean per class; cross-entropy over all pairs. Excluded loss: those directions removed;
cross-entropy on the training pairs. Gini: over the p Fourier-component norms of W_E and W_L. Phase rule and
key-frequency rule: see <code>grokscope.analysis.fourier.phases</code> and <code>grokscope.analysis.fourier.results.KeyFrequencyRule</code>.</p>
"""


def render_report(fa: FourierAnalysis) -> str:
    """The report as one HTML string (plotly.js inlined in the first figure only)."""
    body = [_header(fa), *figure_sections(report_figures(fa)), summary_section(fa.summary())]
    return html_page(f"grokscope: {fa.run}", CSS, body)


def write_report(fa: FourierAnalysis, path: str | Path) -> Path:
    """Write the standalone report to ``path`` (parents created, atomically) and return it."""
    return write_page(path, render_report(fa))


__all__ = ["render_report", "report_figures", "write_report"]
