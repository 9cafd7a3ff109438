"""The page around every standalone report: head and style, figure sections, the summary JSON, the atomic write.

Every report (Fourier, ablation, behaviour) is an :func:`html_page` with the one style sheet
:data:`CSS`; a report adds rules of its own only for boxes no other report has. plotly.js is
inlined in the first figure only, so a report opens offline and is written once.
"""

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# Tables are left-aligned; ``class='num'`` right-aligns every column but the first (numbers under
# a label). ``.muted`` is small print, ``.warn``/``.bad`` a problem, ``.ok`` a success, ``td.mono``
# text shown character for character.
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 3px 10px; text-align: left; } th { background: #f4f4f4; }
table.num td, table.num th { text-align: right; }
table.num td:first-child, table.num th:first-child { text-align: left; }
td.mono { font-family: ui-monospace, Menlo, Consolas, monospace; }
.muted { color: #777; font-size: 0.9em; } .warn, .bad { color: #a33; } .ok { color: #2a7d2a; }
.figure { margin: 18px 0 28px; }
"""


def figure_sections(figures: Mapping[str, go.Figure], *, id_prefix: str = "fig") -> list[str]:
    """One ``<h2>`` section per figure, by title, in order; plotly.js inlined in the first."""
    return [
        f"<h2>{html.escape(title)}</h2><div class='figure'>"
        + fig.to_html(full_html=False, include_plotlyjs=(i == 0), config=PLOTLY_CONFIG, div_id=f"{id_prefix}{i}")
        + "</div>"
        for i, (title, fig) in enumerate(figures.items())
    ]


def summary_section(summary: Any) -> str:
    """The JSON summary, folded."""
    return f"<details><summary>summary JSON</summary><pre>{html.escape(json.dumps(summary, indent=1))}</pre></details>"


def html_page(title: str, body: Iterable[str], *, extra_css: str = "") -> str:
    """A whole standalone HTML document styled by :data:`CSS`, plus a report's own ``extra_css`` rules."""
    head = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}{extra_css}</style></head><body>"
    )
    return "\n".join([head, *body, "</body></html>"])


def check_report_folder(run_dir: str | Path) -> None:
    """Raise a one-line ``ValueError`` unless ``<run>/analysis`` (where reports and caches go) is a folder
    of the run or does not exist yet: never a link, never a file."""
    from grokscope.analysis.fourier.pipeline import CACHE_DIR
    from grokscope.store.folder import RunFolder

    try:
        RunFolder(run_dir).check_contained(CACHE_DIR)
    except NotADirectoryError as e:
        raise ValueError(f"{e}, so the report cannot be written there: pass --out FILE") from None


def write_page(path: str | Path, text: str, *, inside: str | Path | None = None) -> Path:
    """Write ``text`` to ``path`` (parents created) through a temporary file, so a reader never sees half a report.

    ``inside`` is the run folder when ``path`` lies in it: the write then stays inside it, never
    through a link there (:class:`~grokscope.store.folder.RunFolder`).
    """
    from grokscope.store.files import write_bytes_atomic
    from grokscope.store.folder import RunFolder

    path = Path(path)
    if inside is not None:
        RunFolder(inside).write_bytes(*path.relative_to(inside).parts, data=text.encode("utf-8"))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode("utf-8"))
    return path


__all__ = [
    "CSS",
    "PLOTLY_CONFIG",
    "check_report_folder",
    "figure_sections",
    "html_page",
    "summary_section",
    "write_page",
]
