"""The report page: plotly.js inlined exactly once, the summary escaped, the file written whole."""

import plotly.graph_objects as go
import pytest

from grokscope.analysis.report_page import CSS, figure_sections, html_page, summary_section, write_page

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_page_inlines_plotly_once_and_is_written_whole(tmp_path):
    figs = {f"figure {i}": go.Figure(go.Scatter(x=[0, 1], y=[i, i + 1])) for i in range(3)}
    sections = figure_sections(figs, id_prefix="t")
    assert len(sections) == 3 and all(f'id="t{i}"' in s for i, s in enumerate(sections))
    page = html_page("a <run>", [*sections, summary_section({"note": "<b>"})], extra_css=".box { color: red; }")
    assert f"<style>{CSS}.box {{ color: red; }}</style>" in page  # the shared style, then the report's own
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</body></html>")
    assert "<title>a &lt;run&gt;</title>" in page and "&lt;b&gt;" in page
    assert sum("plotly.js v" in s for s in sections) == 1  # the library in the first figure only
    out = write_page(tmp_path / "sub" / "report.html", page)
    assert out.read_text(encoding="utf-8") == page
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind
