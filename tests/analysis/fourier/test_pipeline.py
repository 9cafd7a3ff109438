"""The whole analysis of a run: result, cache and its invalidation, bad runs, the report and the API."""

import json
import os
import shutil
from dataclasses import replace

import numpy as np
import pytest

import grokscope.analysis.fourier.report as report_module
from grokscope.analysis.fourier.pipeline import CACHE_DIR, analyze_fourier, load_cached
from grokscope.analysis.fourier.report import (
    cached_report_path,
    report_figures,
    report_key,
    write_report,
    write_report_cached,
)
from grokscope.store.run import load_run

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of the tiny run (without any cached analysis) that a test may damage."""
    dst = tmp_path / tiny_run.path.name
    shutil.copytree(tiny_run.path, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return dst


def test_analysis_of_a_short_real_run(run_copy):
    fa = analyze_fourier(run_copy)
    assert not fa.cached and fa.p == 23 and fa.task == "mod23"
    assert 1 <= len(fa.key_frequencies) <= 6 and all(1 <= k <= 11 for k in fa.key_frequencies)
    mem, circ, clean = fa.phases
    assert mem.start == 0 and mem.end == circ.start and circ.end == clean.start and clean.start <= clean.end
    assert mem.end < circ.end  # ordered: memorization < circuit formation < cleanup
    m = fa.measures
    assert list(m.index) == fa.steps and len(m) == len(fa.tracks.steps) == fa.tracks.neuron_clusters.shape[0]
    # The published shape: restricted loss falls before test loss; excluded loss rises after memorization.
    assert m["restricted_loss"].iloc[-1] < 0.01 and m["test_acc"].iloc[-1] >= 0.99
    assert m.loc[circ.end, "excluded_loss"] > m.loc[mem.end, "excluded_loss"]
    assert m["sq_weights"].iloc[-1] < m["sq_weights"].max()
    s = fa.summary()
    json.dumps(s, allow_nan=False)  # strict JSON
    assert s["key_frequencies"] == fa.key_frequencies and s["final"]["step"] == fa.steps[-1]
    assert "memorized" in fa.handover and str(circ.end) in fa.handover


def test_cache_is_reused_and_invalidated_when_a_checkpoint_changes(run_copy):
    first = analyze_fourier(run_copy)
    again = analyze_fourier(run_copy)
    assert again.cached and not first.cached and again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.measures.to_numpy(), first.measures.to_numpy())
    np.testing.assert_array_equal(again.tracks.neuron_clusters, first.tracks.neuron_clusters)
    np.testing.assert_array_equal(again.final.logit_spectrum, first.final.logit_spectrum)
    assert again.phases == first.phases and again.handover == first.handover
    # Touch one checkpoint file: the cache no longer matches.
    ckpt = sorted((run_copy / "ckpt").glob("*.safetensors"))[3]
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not analyze_fourier(run_copy).cached
    # A damaged cache is a miss, never an error.
    (run_copy / CACHE_DIR / "fourier.safetensors").write_bytes(b"garbage")
    assert load_cached(run_copy) is None
    assert not analyze_fourier(run_copy).cached


def test_moving_where_a_run_stops_keeps_the_cache(run_copy):
    """A resume that only moves the run's end (steps, stop_after_grok) and trains nothing changes no
    checkpoint, so the analysis stays cached; training on (new checkpoints) recomputes it."""
    from grokscope.training.train import resume

    run = load_run(run_copy)
    assert not analyze_fourier(run).cached
    resume(run_copy, steps=5000, stop_after_grok=10)  # grokked long before step 800: nothing to train
    assert load_run(run_copy).config.train.steps == 5000
    assert analyze_fourier(load_run(run_copy)).cached
    resume(run_copy, steps=820, stop_after_grok=None)
    assert not analyze_fourier(load_run(run_copy)).cached


def test_corrupt_checkpoint_among_good_ones_is_skipped_and_reported(run_copy):
    manifest = json.loads((run_copy / "manifest.json").read_text())
    bad = manifest["checkpoints"][5]
    path = run_copy / "ckpt" / bad["file"]
    path.write_bytes(path.read_bytes()[:100])  # truncated
    fa = analyze_fourier(run_copy)
    assert [s for s, _ in fa.skipped] == [bad["step"]] and "truncated" in fa.skipped[0][1]
    assert bad["step"] not in fa.steps and len(fa.steps) == len(manifest["checkpoints"]) - 1
    assert fa.summary()["skipped"][0]["step"] == bad["step"]


def test_run_without_any_readable_checkpoint_is_a_value_error(run_copy):
    for f in (run_copy / "ckpt").glob("*.safetensors"):
        f.write_bytes(b"")
    with pytest.raises(ValueError, match="no readable checkpoint"):
        analyze_fourier(run_copy)


def test_task_without_cyclic_structure_is_refused(run_copy):
    info = json.loads((run_copy / "run.json").read_text())
    info["config"]["task"]["op"] = "x2y2"
    (run_copy / "run.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="no cyclic group structure.*op 'x2y2'"):
        analyze_fourier(run_copy)


def test_p_that_does_not_match_the_checkpoints_is_refused(run_copy):
    with pytest.raises(ValueError, match="p=29 does not match .*24 input tokens and 23 output classes"):
        analyze_fourier(run_copy, p=29)
    assert analyze_fourier(run_copy, p=23).p == 23


def test_report_is_standalone_and_holds_every_figure(run_copy, tmp_path):
    fa = analyze_fourier(run_copy)
    figs = report_figures(fa)
    assert len(figs) == 6 and all(len(f.data) > 0 for f in figs.values())
    html = write_report(fa, tmp_path / "r" / "report.html").read_text()
    assert html.count("Plotly.newPlot") == 6
    assert html.count("plotly.js v") == 1  # the library is inlined once
    assert "<script src=" not in html  # nothing to fetch: opens offline
    assert fa.handover[:60] in html and "Key frequencies" in html


def test_report_is_rendered_once_per_analysis(run_copy, tmp_path, monkeypatch):
    fa = analyze_fourier(run_copy)
    cached = write_report_cached(fa)
    assert cached == cached_report_path(fa) == run_copy / CACHE_DIR / "report.html" and cached.is_file()
    assert (cached.parent / "report.key").read_text() == report_key(fa)
    assert report_key(fa).startswith(fa.fingerprint + ":")  # and the rendering code's hash: see below
    assert not [f for f in cached.parent.iterdir() if f.name.endswith(".tmp")]  # atomic writes: no leftovers

    def render_again(_fa):
        raise AssertionError("rendered again")

    with monkeypatch.context() as m:  # same analysis: served from the cached report, copied to --out
        m.setattr(report_module, "render_report", render_again)
        assert write_report_cached(fa) == cached
        out = write_report_cached(fa, tmp_path / "copy" / "r.html")
        assert out == tmp_path / "copy" / "r.html" and out.read_bytes() == cached.read_bytes()
    changed = replace(fa, fingerprint="another analysis")
    write_report_cached(changed)
    assert (cached.parent / "report.key").read_text() == report_key(changed)
    # Code that draws the figures anew renders the report again, for the same analysis.
    with monkeypatch.context() as m:
        m.setattr(report_module, "_rendering_code_hash", lambda: "other figures")
        m.setattr(report_module, "render_report", lambda _fa: "<p>drawn anew</p>")
        assert write_report_cached(changed).read_text() == "<p>drawn anew</p>"
        assert (cached.parent / "report.key").read_text() == "another analysis:other figures"

    # A run folder that cannot be written ('analysis' is a file): an error unless out is given.
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / CACHE_DIR).write_text("not a folder")
    blocked = replace(fa, path=str(tmp_path / "ro"))
    with pytest.raises(OSError):
        write_report_cached(blocked)
    out = write_report_cached(blocked, tmp_path / "direct.html")
    assert "Plotly.newPlot" in out.read_text()


def test_lazy_namespaces():
    import grokscope.analysis as ga
    import grokscope.analysis as gp

    assert ga.analyze_fourier is analyze_fourier and callable(gp.plot_losses)
    with pytest.raises(AttributeError):
        ga.nope  # noqa: B018
