"""``analyses/too_big_to_think.py --tiny`` trains, tabulates beside the paper and plots; bad input exits 2."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "analyses" / "too_big_to_think.py")


def test_script_at_tiny_size(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "--tiny", "--tasks", "arith", "capitals", "--presets", "n14",
                        "--conditions", "paper", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    table = (tmp_path / "out" / "too_big_to_think.md").read_text()
    assert "## Table 2: arith, main" in table and "## Table 3: capitals, main" in table
    # The paper's own numbers stand beside ours, with both parameter counts.
    assert "| n14 | 1,456 / 1,963 |" in table and "40/40" in table and "8.2%" in table
    assert "Section 5.1" in table
    assert (tmp_path / "out" / "fig_table2_arith_paper.html").stat().st_size > 10_000


def test_bad_scale_and_missing_gpu(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "--scale", "2", "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: --scale must be in (0, 1]")
    r = subprocess.run([sys.executable, SCRIPT, "--tasks", "nope"], capture_output=True, text=True, timeout=120,
                       cwd=ROOT)
    assert r.returncode == 2 and "invalid choice: 'nope'" in r.stderr
