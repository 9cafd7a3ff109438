"""Run folders crafted to get past the checksums: files whose manifest entry was rewritten to match,
planted FIFOs and hard links, a link among the runs, hand-edited caches and metrics.

Each case found by a review of the store: every one must end in one line (or go on, saying so),
never in a traceback, a hang, a crash of the process or a write outside the run.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from grokscope.cli.main import app
from grokscope.training.train import train
from tests.conftest import tiny_config, tl_independent

pytestmark = tl_independent


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted")
    train(tiny_config(steps=40, ckpt_every=20, eval_every=10), root / "runs", device="cpu")
    return root


@pytest.fixture
def run(template, tmp_path):
    shutil.copytree(template, tmp_path / "w", symlinks=True)
    return tmp_path / "w" / "runs" / "mod13-grok1l-s0"


def rewrite(run, sub, name, tensors):
    """Replace a safetensors file and put its new size and hash into the manifest (what anyone can do)."""
    path = run / sub / name
    save_file(tensors, path)
    data = path.read_bytes()
    manifest = json.loads((run / "manifest.json").read_text())
    for entry in [*manifest["checkpoints"], manifest["resume"], manifest.get("previous_resume") or {}]:
        if entry.get("file") == name:
            entry |= {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (run / "manifest.json").write_text(json.dumps(manifest))


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_line(result, needle):
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (result.exit_code, result.stderr)


def test_a_resume_state_of_the_wrong_shape_is_never_loaded_into_the_optimizer(run):
    state = load_file(run / "resume" / "state_0000040.safetensors")
    state["exp_avg.blocks.0.attn.W_Q"] = torch.zeros(2)
    rewrite(run, "resume", "state_0000040.safetensors", state)
    # In a child process: writing moments of the wrong size through the fused optimizer would crash it.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grokscope.cli.main",
            "train",
            "--resume",
            str(run),
            "--steps",
            "60",
            "--quiet",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "resuming from step 20, the newest whole one" in done.stderr and "exp_avg.blocks.0.attn.W_Q" in done.stderr


def test_a_sampler_state_that_cannot_be_restored_falls_back(run):
    state = load_file(run / "resume" / "state_0000040.safetensors")
    state["sampler"] = torch.zeros(3)
    rewrite(run, "resume", "state_0000040.safetensors", state)
    result = cli("train", "--resume", run, "--steps", "60", "--quiet", "--device", "cpu")
    assert result.exit_code == 0 and "sampler or RNG state cannot be restored" in result.stderr, result.stderr


def test_a_checkpoint_of_the_wrong_shapes_is_skipped_by_the_analyses(run):
    ckpt = load_file(run / "ckpt" / "step_0000040.safetensors")
    ckpt["embed.W_E"] = ckpt["embed.W_E"][:5]
    rewrite(run, "ckpt", "step_0000040.safetensors", ckpt)
    result = cli("analyze", "fourier", run, "--quiet")
    assert result.exit_code == 0 and "skipped unreadable checkpoint at step 40" in result.stderr, result.stderr
    assert "embed.W_E has shape (5, 128)" in result.stderr


def test_metrics_rows_of_the_wrong_types_are_bad_lines_not_crashes(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace('"test_acc": ', '"test_acc": "x", "was": ')
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert cli("runs", run.parent).exit_code == 0
    result = cli("train", "--resume", run, "--steps", "60", "--quiet", "--device", "cpu")
    assert result.exit_code == 0 and "line(s) 2 are not metrics rows; kept as they are" in result.stderr


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_manifest_that_is_no_regular_file_is_one_line_and_no_hang(run, kind):
    (run / "manifest.json").unlink()
    if kind == "folder":
        (run / "manifest.json").mkdir()
    else:
        os.mkfifo(run / "manifest.json")
    for args in (["runs", run], ["analyze", "fourier", run], ["train", "--resume", run, "--steps", "60"]):
        result = cli(*args)
        if args[0] == "runs":
            assert result.exit_code == 0 and "is not a regular file" in result.stderr, result.stderr
        else:
            one_line(result, "is not a regular file")


def test_a_hard_linked_lock_or_metrics_file_is_never_written(run, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    (run / ".lock").unlink(missing_ok=True)
    os.link(outside, run / ".lock")
    one_line(cli("train", "--resume", run, "--steps", "60", "--quiet"), "has another hard link")
    assert outside.read_text() == "keep me\n"


def test_a_link_among_the_runs_is_neither_listed_nor_analysed(run, tmp_path):
    victim = tmp_path / "victim"
    shutil.copytree(run, victim / "myrun")
    shutil.rmtree(victim / "myrun" / "analysis", ignore_errors=True)
    (run.parent / "evil").symlink_to(victim / "myrun")
    before = sorted(p.name for p in (victim / "myrun").iterdir())
    result = cli("analyze", "fourier", run.parent, "--quiet", "--json")
    assert result.exit_code == 0 and "evil" not in result.stdout
    assert "evil" not in cli("runs", run.parent).stdout
    assert sorted(p.name for p in (victim / "myrun").iterdir()) == before


@pytest.mark.parametrize(
    "edit", ["measures-emptied", "checks-list", "handover-number", "phase-end-null", "key-frequency-out-of-range"]
)
def test_a_hand_edited_analysis_cache_is_computed_again(run, edit):
    assert cli("analyze", "fourier", run, "--quiet").exit_code == 0
    path = run / "analysis" / "fourier.json"
    meta = json.loads(path.read_text())
    if edit == "measures-emptied":
        meta["measures"] = {k: [] for k in meta["measures"]}
    elif edit == "checks-list":
        meta["checks"] = []
    elif edit == "handover-number":
        meta["handover"] = 5
    elif edit == "phase-end-null":
        meta["phases"] = [{"name": "memorization", "start": 0, "end": None, "reached": True}]
    else:
        meta["key_frequencies"] = [99]
    path.write_text(json.dumps(meta))
    result = cli("analyze", "fourier", run, "--quiet")
    assert result.exit_code == 0 and "fourier.json is damaged" in result.stderr, result.stderr


def test_a_huge_modulus_in_run_json_is_refused_at_once(run):
    info = json.loads((run / "run.json").read_text())
    info["config"]["task"] |= {"op": "div", "p": (10**9 + 7) * (10**9 + 9)}
    (run / "run.json").write_text(json.dumps(info))
    result = cli("runs", run.parent)
    assert result.exit_code == 0 and "p must be an integer in 3..100000" in result.stderr


def test_swapped_resume_entries_are_a_damaged_manifest(run):
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["resume"], manifest["previous_resume"] = manifest["previous_resume"], manifest["resume"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    one_line(cli("train", "--resume", run, "--steps", "60"), "previous resume state is not older than its newest")


@pytest.mark.parametrize("bad", [{"train_losses": [[1.0, 2.0]]}, {"checkpoint_epochs": 5}])
def test_an_import_source_of_an_unexpected_shape_is_one_line(run, tmp_path, bad):
    state = load_file(run / "ckpt" / "step_0000040.safetensors")
    source = {"model": state} if "train_losses" in bad else {"checkpoints": [state]}
    torch.save(source | bad, tmp_path / "odd.pth")
    one_line(cli("import", tmp_path / "odd.pth", "--out", tmp_path / "imported"), "odd.pth")
    assert not (tmp_path / "imported").exists()
