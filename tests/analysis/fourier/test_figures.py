"""The Fourier report's figures as a reader sees them: every axis titled, colours that show the spectrum."""

import shutil

import numpy as np
import pytest

from grokscope.analysis.fourier.figures import _log_colors, plot_logit_spectrum
from grokscope.analysis.fourier.pipeline import CACHE_DIR, analyze_fourier
from grokscope.analysis.fourier.progress_figures import plot_losses
from grokscope.analysis.fourier.report import report_figures

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


@pytest.fixture(scope="module")
def fa(tiny_run, tmp_path_factory):
    dst = tmp_path_factory.mktemp("fourier-figures") / tiny_run.path.name
    shutil.copytree(tiny_run.path, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return analyze_fourier(dst)


def test_every_axis_of_every_report_figure_has_a_title(fa):
    for section, fig in report_figures(fa).items():
        layout = fig.to_plotly_json()["layout"]
        axes = [k for k in layout if k.startswith(("xaxis", "yaxis"))]
        assert axes, section
        untitled = [k for k in axes if not (layout[k].get("title") or {}).get("text")]
        assert not untitled, (section, untitled)


def test_logit_spectrum_colours_are_on_a_log_scale(fa):
    spec = fa.final.logit_spectrum
    full = plot_logit_spectrum(fa).data[0]
    z = np.asarray(full.z, dtype=float)
    assert np.asarray(full.customdata, dtype=float) == pytest.approx(spec)  # hover: the norm itself
    big = spec >= spec.max() * 1e-6
    assert z[big] == pytest.approx(np.log10(spec[big]))
    # On the linear scale nearly every cell sat in the bottom tenth of the colours; on the log scale
    # the median cell is well inside the scale.
    lin = (np.median(spec) - spec.min()) / (spec.max() - spec.min())
    log = (np.median(z) - z.min()) / (z.max() - z.min())
    assert lin < 0.1 < 0.3 < log, (lin, log)


def test_log_colour_scale_floor_and_ticks():
    z, ticks, text = _log_colors(np.array([0.0, 1e-9, 1e-2, 1.0, 100.0]))
    assert z.min() == pytest.approx(-4) and z.max() == pytest.approx(2)  # zero and 1e-9 drawn at 6 decades down
    assert ticks == [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0] and text[0] == "10<sup>-4</sup>"
    z, ticks, text = _log_colors(np.array([2.0, 3.0, 5.0]))  # less than a decade: its two ends
    assert ticks == pytest.approx([np.log10(2), np.log10(5)]) and text == ["2", "5"]


def test_uniform_loss_label_is_inside_the_loss_axis(fa):
    fig = plot_losses(fa)
    low, high = fig.layout.yaxis.range
    (label,) = [a for a in fig.layout.annotations if a.text == "uniform"]
    assert low <= label.y <= high and label.y == pytest.approx(np.log10(np.log(fa.p)))
