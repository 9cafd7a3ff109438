"""The ablation report as a reader sees it: key steps once each in words, axes that fit the data."""

import html
import re
import shutil

import numpy as np
import pytest

from grokscope.analysis.ablation.over_checkpoints import ablate_run
from grokscope.analysis.ablation.report import (
    CROSSING_LABELS,
    crossing_sentence,
    key_steps,
    plot_frequency_importance,
    render_ablation_report,
    report_file_name,
)
from grokscope.analysis.fourier.pipeline import CACHE_DIR, analyze_fourier

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


@pytest.fixture(scope="module")
def res(tiny_run, tmp_path_factory):
    """The ablations of a copy of the tiny run (memorizes, then groks by step ~600)."""
    dst = tmp_path_factory.mktemp("ablation-report") / tiny_run.path.name
    shutil.copytree(tiny_run.path, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return ablate_run(dst, fourier=analyze_fourier(dst))


def test_key_steps_name_each_step_once_in_words(res):
    steps = key_steps(res)
    numbers = [s for s, _ in steps]
    assert numbers == sorted(set(numbers)), steps  # ascending, no step twice
    labels = "; ".join(label for _, label in steps)
    assert "_" not in labels and "crossing" not in labels, labels  # no internal names
    cross = res.crossings()
    assert cross["generalizing_up"] is not None and cross["memorizing_down"] is not None
    for key in ("generalizing_up", "memorizing_down"):  # every crossing is there, at its step
        assert CROSSING_LABELS[key] in dict(steps)[cross[key]], (key, steps)
    assert set(res.milestones().values()) <= set(numbers)


@pytest.mark.parametrize("circuit", ["memorize", "generalize"])
def test_report_table_has_one_row_per_key_step(res, circuit):
    page = render_ablation_report(res, circuit)
    table = page[page.index(f"Key steps, {circuit} ablation") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", table)
    assert [(int(s), html.unescape(label)) for s, label in rows] == key_steps(res)


def test_frequency_importance_axis_fits_its_bars(res):
    fig = plot_frequency_importance(res)
    bars = np.asarray(fig.data[0].y, dtype=float)
    ln_p = np.log(res.p)
    low, high = fig.layout.yaxis.range
    shown = np.log10(np.append(bars, ln_p))
    assert low <= shown.min() and high >= shown.max()  # every bar and the ln p line inside
    assert low >= shown.min() - 0.5 and high <= shown.max() + 0.5, (low, high, shown)  # and no decades to spare
    (label,) = [a for a in fig.layout.annotations if "ln p" in a.text]
    assert low <= label.y <= high and label.y == pytest.approx(np.log10(ln_p))  # on a log axis y is in decades


def test_each_circuit_has_its_own_report_file():
    assert report_file_name("memorize") != report_file_name("generalize")
    assert report_file_name("memorize") == "ablation-memorize.html"


def test_crossing_sentence_says_never_for_a_share_that_does_not_cross():
    cross = {"generalizing_up": 4, "memorizing_down": None, "loss_generalizing_up": None, "loss_memorizing_down": 9}
    text = crossing_sentence(cross)
    assert "None" not in text and "no step" not in text
    assert "first reaches 50% at step 4" in text and "never falls below 50%" in text
    assert "loss-based shares: never and step 9" in text
