"""``analyses/blog_failures.py --tiny`` end to end (train, analyse, report), run in-process so the
test does not pay a second TransformerLens import."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("blog_failures", ROOT / "analyses" / "blog_failures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_blog_failures_tiny(tmp_path, capsys):
    script = load_script()
    assert (
        script.main(["--tiny", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "reports"), "--device", "cpu"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "right to 8 of 9 decimals" in printed and "right answer, then ran on (+10 chars)" in printed
    out = json.loads((tmp_path / "reports" / "blog_failures.json").read_text())
    assert [r["failure"] for r in out["blog_table"]] == ["decimals", "close", "exact", "ran_on", "ran_on"]
    assert len(out["asked"]) == 5 and out["asked"][0]["prompt"] == "DIVIDE 20 20="
    assert Path(out["report"]).read_text().count("Plotly.newPlot") == 4
    assert out["behavior"]["last_step"] == 60
