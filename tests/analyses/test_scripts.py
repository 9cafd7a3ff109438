"""``analyses/progress_measures.py --tiny`` runs end to end (train, analyse, report)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grokscope.analysis.fourier.pipeline import CACHE_DIR

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]


def test_progress_measures_script_at_tiny_size(tiny_run, tmp_path):
    # The session's tiny run is the script's "tiny" setting, so the script finds it finished and
    # reuses it (exactly what it does with a real checkpoints/ folder) instead of training again.
    runs = tmp_path / "runs"
    shutil.copytree(tiny_run.path, runs / tiny_run.path.name, ignore=shutil.ignore_patterns(CACHE_DIR))
    before = sorted(p.name for p in (runs / tiny_run.path.name / "ckpt").iterdir())
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "analyses" / "progress_measures.py"),
            "--tiny",
            "--runs",
            str(runs),
            "--out",
            str(tmp_path / "reports"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "against the published curves" in r.stdout and "circuit formation" in r.stdout
    report = tmp_path / "reports" / f"{tiny_run.path.name}.html"
    assert report.is_file() and report.read_text().count("Plotly.newPlot") == 6
    summary = json.loads((tmp_path / "reports" / "progress_measures.json").read_text())
    assert summary[0]["setting"] == "tiny" and summary[0]["key_frequencies"]
    assert sorted(p.name for p in (runs / tiny_run.path.name / "ckpt").iterdir()) == before
