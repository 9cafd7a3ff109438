"""``grokscope analyze fourier``: JSON keys, the readable table, the report, and every bad input."""

import json
import shutil
import subprocess
import time

import pytest
from typer.testing import CliRunner

from grokscope.analysis.fourier.pipeline import CACHE_DIR
from grokscope.cli.main import app
from tests.conftest import one_line_error

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["analyze", "fourier", *map(str, args), "--quiet"])


@pytest.fixture
def runs(tiny_run, tmp_path):
    """A folder holding a copy of the tiny run."""
    folder = tmp_path / "runs"
    shutil.copytree(tiny_run.path, folder / tiny_run.path.name, ignore=shutil.ignore_patterns(CACHE_DIR))
    return folder


def test_json_summary_keys(runs, tmp_path):
    out = tmp_path / "rep" / "report.html"
    r = invoke(runs, "--json", "--out", out)  # a folder holding one run: that run's object
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert isinstance(s["key_frequencies"], list) and all(isinstance(k, int) for k in s["key_frequencies"])
    assert [ph["name"] for ph in s["phases"]] == ["memorization", "circuit formation", "cleanup"]
    assert all(isinstance(ph["start"], int) and isinstance(ph["end"], int) for ph in s["phases"])
    assert s["phases"][0]["end"] <= s["phases"][1]["end"] <= s["phases"][2]["end"]
    for key in (
        "train_loss",
        "test_loss",
        "restricted_loss",
        "excluded_loss",
        "gini_embed",
        "gini_logit_map",
        "sq_weights",
        "test_acc",
    ):
        assert isinstance(s["final"][key], float), key
    assert s["report"] == str(out) and out.is_file()
    html = out.read_text()
    assert html.count("Plotly.newPlot") == 6 and "<script src=" not in html
    # Second call: served from the cache.
    r2 = invoke(runs, "--json")
    assert json.loads(r2.stdout)["cached"] is True


def test_readable_table(runs):
    r = invoke(runs / "mod23-grok1l-f0.8-s0")
    assert r.exit_code == 0, r.output
    for needle in ("key frequencies:", "memorization", "circuit formation", "cleanup", "restricted loss", "report: "):
        assert needle in r.stdout, needle
    report = r.stdout.strip().splitlines()[-1].removeprefix("report: ")
    assert report.endswith("analysis/report.html")


def test_folder_without_runs(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    one_line_error(invoke(tmp_path), "no runs in")
    one_line_error(invoke(tmp_path / "missing"), "does not exist")


def test_task_without_cyclic_structure(runs):
    run = runs / "mod23-grok1l-f0.8-s0"
    info = json.loads((run / "run.json").read_text())
    info["config"]["task"]["op"] = "x2y2"
    (run / "run.json").write_text(json.dumps(info))
    r = invoke(run)
    one_line_error(r, "no cyclic group structure")
    # which operations the analysis reads, and what to do
    for needle in ("add and sub runs (any p)", "mul and div runs (p prime", "grokscope train --task mod97-mul"):
        assert needle in r.stderr, needle


def test_p_not_matching_the_vocabulary(runs):
    one_line_error(invoke(runs / "mod23-grok1l-f0.8-s0", "--p", 97), "p=97 does not match")


def test_corrupt_checkpoint_is_reported_and_the_rest_analysed(runs):
    run = runs / "mod23-grok1l-f0.8-s0"
    victim = sorted((run / "ckpt").glob("*.safetensors"))[7]
    victim.write_bytes(b"\0" * 64)
    r = invoke(run, "--json")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.stderr and "skipped unreadable checkpoint" in r.stderr
    assert len(json.loads(r.stdout)["skipped"]) == 1


def test_all_checkpoints_corrupt(runs):
    for f in (runs / "mod23-grok1l-f0.8-s0" / "ckpt").glob("*.safetensors"):
        f.write_bytes(b"")
    one_line_error(invoke(runs), "no readable checkpoint")


def test_folder_with_a_good_and_a_bad_run(runs):
    bad = runs / "zz-bad"
    shutil.copytree(runs / "mod23-grok1l-f0.8-s0", bad)
    info = json.loads((bad / "run.json").read_text())
    info["config"]["task"]["op"] = "x2y2"
    (bad / "run.json").write_text(json.dumps(info))
    r = invoke(runs, "--json", "--out", runs / "r.html")
    assert r.exit_code == 0, r.output
    summaries = json.loads(r.stdout)
    assert [s["run"] for s in summaries] == ["mod23-grok1l-f0.8-s0"]  # a list: PATH holds several runs
    assert "error: zz-bad:" in r.stderr
    assert (runs / "r-mod23-grok1l-f0.8-s0.html").is_file()


def test_run_folder_that_cannot_hold_the_report(runs, tmp_path):
    run = runs / "mod23-grok1l-f0.8-s0"
    (run / CACHE_DIR).write_text("not a folder")  # nothing can be cached in the run
    one_line_error(invoke(run), "pass --out FILE")
    out = tmp_path / "elsewhere.html"
    r = invoke(run, "--json", "--out", out)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["report"] == str(out) and "Plotly.newPlot" in out.read_text()


def test_help_is_fast_and_errors_are_one_line_in_a_real_process(cli_cmd, tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run([*cli_cmd, "analyze", "fourier", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--json" in r.stdout
    assert time.perf_counter() - t0 < 3.0  # no torch on this path
    r = subprocess.run([*cli_cmd, "analyze", "fourier", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("error: no runs in") and len(r.stderr.splitlines()) == 1
