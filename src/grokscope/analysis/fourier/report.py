"""One standalone HTML report per analysis: plotly.js inlined once, opens offline, no server.

:func:`write_report` renders it to any file; :func:`write_report_cached` renders it once per
analysis, into ``<run>/analysis/report.html`` beside the cached analysis (``report.key`` holds
the analysis fingerprint it was rendered from, and a hash of the rendering code), and copies that
file where asked.
"""

import hashlib
import html
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from grokscope.analysis.fourier.pipeline import CACHE_DIR, FINAL_COLUMNS, FourierAnalysis
from grokscope.analysis.report_page import figure_sections, html_page, summary_section, write_page
from grokscope.store.files import write_bytes_atomic

if TYPE_CHECKING:
    from grokscope.store.folder import RunFolder

# The handover paragraph's box; the rest of the style is the shared page's.
EXTRA_CSS = """
.handover { background: #f7f7fb; border-left: 4px solid #7b7bd1; padding: 10px 14px; }
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
    rows = "".join(
        f"<tr><td>{html.escape(ph['name'])}</td><td>{ph['start']}</td><td>{ph['end']}</td>"
        f"<td>{'yes' if ph['reached'] else 'no (run stopped inside it)'}</td></tr>"
        for ph in s["phases"]
    )
    final = "".join(
        f"<tr><td>{c}</td><td>{_fmt(s['final'].get(c))}</td></tr>" for c in FINAL_COLUMNS if c in s["final"]
    )
    checks = s["checks"]
    skipped = ""
    if fa.skipped:
        items = "".join(f"<li>step {st}: {html.escape(r)}</li>" for st, r in fa.skipped)
        skipped = (
            f"<p class='warn'>Skipped {len(fa.skipped)} unreadable checkpoint(s):</p><ul class='warn'>{items}</ul>"
        )
    keys = ", ".join(map(str, fa.key_frequencies)) or "none found"
    return f"""
<h1>grokscope: Fourier analysis of {html.escape(fa.run)}</h1>
<p class="muted">{html.escape(fa.task)} (p = {fa.p}, {fa.n_train} training pairs), {s["checkpoints"]} checkpoints,
steps {s["first_step"]} to {s["last_step"]}; {html.escape(fa.path)}</p>
<p><b>Key frequencies:</b> {keys}. They carry {checks["logit_map_share"]:.1%} of W_L's and
{checks["embed_share"]:.1%} of W_E's non-constant Fourier energy (frequencies strong in W_E:
{", ".join(map(str, checks["embed_strong"]))}; in W_L: {", ".join(map(str, checks["logit_map_strong"]))}).</p>
<div class="handover">{html.escape(fa.handover)}</div>
{skipped}
<div style="display:flex; gap:40px; flex-wrap:wrap">
<div><h2>Phases</h2><table class='num'><tr><th>phase</th><th>start</th><th>end</th><th>complete</th></tr>{rows}</table></div>
<div><h2>Final measures (step {s["last_step"]})</h2><table class='num'>{final}</table></div>
</div>
<p class="muted">Restricted loss: logits on all p&sup2; pairs kept only along cos/sin(w<sub>k</sub>(a+b)) for the key
frequencies, plus their mean per class; cross-entropy over all pairs. Excluded loss: those directions removed;
cross-entropy on the training pairs. Gini: over the p Fourier-component norms of W_E and W_L. Phase rule and
key-frequency rule: see <code>grokscope.analysis.fourier.phases</code> and <code>grokscope.analysis.fourier.results.KeyFrequencyRule</code>.</p>
"""


def render_report(fa: FourierAnalysis) -> str:
    """The report as one HTML string (plotly.js inlined in the first figure only)."""
    body = [_header(fa), *figure_sections(report_figures(fa)), summary_section(fa.summary())]
    return html_page(f"grokscope: {fa.run}", body, extra_css=EXTRA_CSS)


def write_report(fa: FourierAnalysis, path: str | Path) -> Path:
    """Write the standalone report to ``path`` (parents created, atomically) and return it."""
    return write_page(path, render_report(fa))


REPORT_FILE, REPORT_KEY = "report.html", "report.key"


def cached_report_path(fa: FourierAnalysis) -> Path:
    """Where :func:`write_report_cached` keeps the rendered report: beside the cached analysis."""
    return Path(fa.path) / CACHE_DIR / REPORT_FILE


def report_key(fa: FourierAnalysis) -> str:
    """What ``report.key`` holds for ``fa``'s report: the analysis fingerprint and a hash of the code
    that renders the report (an upgrade that draws the figures anew must not serve the old page)."""
    return f"{fa.fingerprint}:{_rendering_code_hash()}"


@lru_cache(maxsize=1)
def _rendering_code_hash() -> str:
    here = Path(__file__).parent
    h = hashlib.sha256()
    for path in (here / "figures.py", here / "progress_figures.py", here / "report.py", here.parent / "report_page.py"):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def write_report_cached(fa: FourierAnalysis, out: str | Path | None = None) -> Path:
    """Write the report to ``out`` (default: :func:`cached_report_path`), rendering it only when needed.

    The rendered report is kept in the run folder next to ``report.key``, the fingerprint of the
    analysis it shows and of the rendering code (:func:`report_key`; written atomically, after the
    report). While that matches ``fa`` the
    report is reused, without importing torch, and ``out`` gets a copy of it. A run folder that
    cannot be written is no error when ``out`` is given: the report is rendered straight to
    ``out``. Raises ``OSError`` when the report cannot be written where it has to go (into the run
    folder when ``out`` is None, else to ``out``).
    """
    from grokscope.store.folder import RunFolder

    folder = RunFolder(fa.path)
    cached = cached_report_path(fa)
    target = Path(out) if out is not None else cached
    key = report_key(fa).encode()
    page = _read(folder, REPORT_FILE) if fa.fingerprint and _read(folder, REPORT_KEY) == key else None
    if page is None:
        page = render_report(fa).encode("utf-8")
        try:
            folder.unlink(CACHE_DIR, REPORT_KEY)  # a report being replaced is never vouched for by the old key
            folder.write_bytes(CACHE_DIR, REPORT_FILE, data=page)
            folder.write_bytes(CACHE_DIR, REPORT_KEY, data=key)
        except (OSError, ValueError):  # read-only run folder, a link in it: render straight to the target
            if out is None:
                raise
    if out is not None and not (target.exists() and cached.exists() and target.samefile(cached)):
        write_bytes_atomic(target, page)
    return target


def _read(folder: "RunFolder", name: str) -> bytes | None:
    try:
        return folder.read_bytes(CACHE_DIR, name)
    except (OSError, ValueError):  # missing, unreadable or a link: not a usable cache
        return None


__all__ = [
    "cached_report_path",
    "render_report",
    "report_figures",
    "report_key",
    "write_report",
    "write_report_cached",
]
