"""The page around every standalone report: head and style, figure sections, the summary JSON, the atomic write.

plotly.js is inlined in the first figure only, so a report opens offline and is written once.
"""

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def figure_sections(figures: Mapping[str, go.Figure], *, id_prefix: str = "fig") -> list[str]:
    """One ``<h2>`` section per figure, by title, in order; plotly.js inlined in the first."""
    return [f"<h2>{html.escape(title)}</h2><div class='figure'>"
            + fig.to_html(full_html=False, include_plotlyjs=(i == 0), config=PLOTLY_CONFIG, div_id=f"{id_prefix}{i}")
            + "</div>"
            for i, (title, fig) in enumerate(figures.items())]


def summary_section(summary: Any) -> str:
    """The JSON summary, folded."""
    return f"<details><summary>summary JSON</summary><pre>{html.escape(json.dumps(summary, indent=1))}</pre></details>"


def html_page(title: str, css: str, body: Iterable[str]) -> str:
    """A whole standalone HTML document."""
    head = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{css}</style></head><body>"
    return "\n".join([head, *body, "</body></html>"])


def write_page(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents created) through a temporary file, so a reader never sees half a report."""
    from grokscope.store.files import write_bytes_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, text.encode("utf-8"))
    return path


__all__ = ["PLOTLY_CONFIG", "figure_sections", "html_page", "summary_section", "write_page"]
