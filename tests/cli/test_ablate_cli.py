"""``grokscope ablate``: JSON keys, the table, the report, and every bad input (exit code 2, one line)."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokscope.analysis.fourier.pipeline import CACHE_DIR
from grokscope.cli.main import app
from tests.conftest import one_line_error

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

runner = CliRunner()
NAME = "mod23-grok1l-f0.8-s0"


def invoke(*args):
    return runner.invoke(app, ["ablate", *map(str, args)])


@pytest.fixture(scope="module")
def run_dir(tiny_run, tmp_path_factory):
    """A copy of the tiny run without its cached Fourier analysis: the first call must compute it."""
    dst = tmp_path_factory.mktemp("ablate") / NAME
    shutil.copytree(tiny_run.path, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return dst


def test_json_keys_and_report(run_dir, tmp_path):
    out = tmp_path / "rep" / "ablation.html"
    r = invoke(run_dir, "--circuit", "generalize", "--json", "--out", out)
    assert r.exit_code == 0, r.output
    assert "no current Fourier analysis: computing it first" in r.stderr  # said on stderr, then computed
    s = json.loads(r.stdout)
    for key in (
        "run",
        "task",
        "p",
        "circuit",
        "removes",
        "site",
        "method",
        "key_frequencies",
        "definition",
        "phases",
        "crossings",
        "milestones",
        "checkpoints",
        "frequency_importance",
        "report",
    ):
        assert key in s, key
    assert s["circuit"] == "generalize" and s["site"] == "logits" and s["method"] == "zero"
    assert "unembed.hook_out" in s["definition"]
    c = s["checkpoints"][-1]
    assert set(c) == {"step", "full", "ablated", "share_generalizing", "share_memorizing"}
    assert set(c["full"]) == set(c["ablated"]) == {"train_loss", "test_loss", "train_acc", "test_acc"}
    assert c["full"]["test_acc"] >= 0.99 and c["ablated"]["test_acc"] < 0.5  # late: the Fourier circuit is needed
    assert [f["freq"] for f in s["frequency_importance"]["frequencies"]] == s["key_frequencies"]
    assert {"generalizing_up", "memorizing_down"} <= set(s["crossings"])
    assert s["report"] == str(out)
    html = out.read_text()
    assert html.count("Plotly.newPlot") == 2 and "<script src=" not in html  # offline, both figures
    # The second call reuses the cached analysis and says nothing on stderr.
    r2 = invoke(run_dir, "--circuit", "memorize", "--json", "--out", out)
    assert r2.exit_code == 0 and r2.stderr == ""
    late = json.loads(r2.stdout)["checkpoints"][-1]
    assert late["ablated"]["test_acc"] >= 0.99


def test_one_step_table_and_default_report(run_dir):
    steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "ckpt").glob("*.safetensors"))
    r = invoke(run_dir, "--circuit", "memorize", "--step", steps[3], "--method", "resample", "--site", "neurons")
    assert r.exit_code == 0, r.output
    for needle in (
        "memorizing circuit removed",
        "share gen",
        "each key frequency removed alone",
        "method resample",
        "blocks.0.mlp.hook_post",
        f"{steps[3]:>7}",
    ):
        assert needle in r.stdout, needle
    assert r.stdout.strip().splitlines()[-1] == f"report: {run_dir / CACHE_DIR / 'ablation-memorize.html'}"
    r = invoke(run_dir, "--circuit", "memorize", "--step", steps[3], "--json")
    assert len(json.loads(r.stdout)["checkpoints"]) == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--circuit", "attention"), "unknown circuit 'attention': choose one of generalize, memorize"),
        (
            ("--circuit", "memorize", "--method", "noise"),
            "unknown ablation method 'noise': choose one of zero, mean, resample",
        ),
        (("--circuit", "memorize", "--site", "heads"), "unknown site 'heads'"),
        (("--circuit", "memorize", "--step", 7), "no checkpoint at step 7 in mod23-grok1l-f0.8-s0; steps present: 0, "),
    ],
)
def test_bad_input(run_dir, args, needle):
    one_line_error(invoke(run_dir, *args), needle)


def test_not_a_run_and_out_a_folder(run_dir, tmp_path):
    one_line_error(invoke(tmp_path, "--circuit", "memorize"), f"no runs in {tmp_path}")
    one_line_error(invoke(tmp_path / "nothing", "--circuit", "memorize"), "does not exist")
    one_line_error(invoke(run_dir, "--circuit", "memorize", "--out", tmp_path), "is a folder")


def test_a_run_that_cannot_have_a_fourier_analysis(run_dir, tmp_path):
    bad = tmp_path / "mul"
    shutil.copytree(run_dir, bad, ignore=shutil.ignore_patterns(CACHE_DIR))
    info = json.loads((bad / "run.json").read_text())
    info["config"]["task"]["op"] = "x2y2"
    (bad / "run.json").write_text(json.dumps(info))
    one_line_error(invoke(bad, "--circuit", "generalize"), "no cyclic group structure")


def test_help_is_fast_and_errors_are_one_line_in_a_real_process(cli_cmd, tmp_path):
    t0 = time.perf_counter()
    r = subprocess.run([*cli_cmd, "ablate", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--circuit" in r.stdout
    assert time.perf_counter() - t0 < 3.0  # no torch on this path
    r = subprocess.run(
        [*cli_cmd, "ablate", str(tmp_path), "--circuit", "both"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2 and r.stderr.startswith("error: unknown circuit") and len(r.stderr.splitlines()) == 1


def test_each_circuit_writes_its_own_report(run_dir):
    steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "ckpt").glob("*.safetensors"))
    pages = {}
    for circuit in ("memorize", "generalize"):
        r = invoke(run_dir, "--circuit", circuit, "--step", steps[-1])
        assert r.exit_code == 0, r.output
        report = run_dir / CACHE_DIR / f"ablation-{circuit}.html"
        assert r.stdout.strip().splitlines()[-1] == f"report: {report}"
        pages[circuit] = report.read_text()
    assert "Key steps, memorize ablation" in pages["memorize"]  # not overwritten by the generalize run
    assert "Key steps, generalize ablation" in pages["generalize"]


def test_table_names_each_step_once_in_words(run_dir):
    r = invoke(run_dir, "--circuit", "memorize")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    rows = lines[lines.index(next(x for x in lines if "what happens" in x)) + 2 :]
    rows = rows[: rows.index("")]
    steps = [int(x.split()[0]) for x in rows]
    assert steps == sorted(set(steps)) and len(steps) >= 3, rows
    assert not any("_" in x or "crossing" in x for x in rows), rows
    assert any("generalizing share first >= 50%" in x for x in rows), rows


def test_no_run_given_ablates_the_newest_run_in_checkpoints(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_line_error(invoke("--circuit", "memorize"), "no run given and no checkpoints/ folder here")
    for name in ("zz-older", NAME, "aa-oldest"):
        shutil.copytree(run_dir, tmp_path / "checkpoints" / name)
        (tmp_path / "checkpoints" / name / CACHE_DIR / "ablation-memorize.html").unlink(missing_ok=True)
    for age, name in ((300, "zz-older"), (0, NAME), (600, "aa-oldest")):
        t = time.time() - age
        os.utime(tmp_path / "checkpoints" / name / "manifest.json", (t, t))
    steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "ckpt").glob("*.safetensors"))
    r = invoke("--circuit", "memorize", "--step", steps[-1], "--json")
    assert r.exit_code == 0, r.output
    # which run, on stderr, and that there are others
    assert f"ablating the newest run in checkpoints/, {Path('checkpoints') / NAME} (2 older" in r.stderr
    s = json.loads(r.stdout)  # one run: one object, as analyze fourier prints
    assert s["run"] == NAME and s["report"] == str(Path("checkpoints") / NAME / CACHE_DIR / "ablation-memorize.html")
    assert not (tmp_path / "checkpoints" / "zz-older" / CACHE_DIR / "ablation-memorize.html").exists()


def test_a_folder_of_runs_ablates_each_and_skips_a_bad_one(run_dir, tmp_path):
    folder = tmp_path / "runs"
    for name in ("a", "b", "c"):
        shutil.copytree(run_dir, folder / name)
    (folder / "b" / "run.json").write_text("{ not json")
    steps = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "ckpt").glob("*.safetensors"))
    r = invoke(folder, "--circuit", "generalize", "--step", steps[-1], "--json")
    assert r.exit_code == 0, r.output
    assert [s["run"] for s in json.loads(r.stdout)] == ["a", "c"]
    assert "ablating " + str(folder / "a") + f" (1 of 3 runs in {folder})" in r.stderr
    assert "error: b: " in r.stderr
    assert (folder / "c" / CACHE_DIR / "ablation-generalize.html").is_file()
