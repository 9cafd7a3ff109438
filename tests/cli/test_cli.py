"""Every bad input: one line naming the problem and the fix, exit code 2, nothing written lost."""

import json
import subprocess
import time

import pytest

from grokscope.training.train import train
from tests.conftest import ckpt_bytes, tiny_config

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def run_cli(cli_cmd, *args, timeout=120):
    return subprocess.run([*cli_cmd, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--task", "mod9x"], "unknown task 'mod9x'"),
        (["--task", "add97"], "unknown task"),
        (["--preset", "gpt5"], "unknown model preset 'gpt5'"),
        (["--task", "mod98", "--op", "div"], "not prime"),
        (["--task", "mod97-div", "--op", "mul"], "names op"),
        (["--op", "pow"], "unknown operation 'pow'"),
        (["--frac", "0"], "between 0 and 1"),
        (["--frac", "1.2"], "between 0 and 1"),
        (["--steps", "0"], "steps must be an integer in 1..1000000000, got 0"),
    ],
)
def test_bad_arguments(cli_cmd, tmp_path, args, needle):
    r = run_cli(cli_cmd, "train", "--out", str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert not any(tmp_path.iterdir()), "a rejected command writes nothing"


def test_argument_errors_are_fast(cli_cmd, tmp_path):
    t0 = time.perf_counter()
    r = run_cli(cli_cmd, "train", "--task", "nope", "--out", str(tmp_path))
    assert r.returncode == 2
    assert time.perf_counter() - t0 < 3.0  # no torch / TransformerLens import on this path


def test_unwritable_output_folder(cli_cmd, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    r = run_cli(cli_cmd, "train", "--task", "mod13", "--out", str(blocker / "sub"))
    assert r.returncode == 2 and "writable --out" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "keep me"


def test_resume_of_a_folder_that_is_not_a_run(cli_cmd, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = run_cli(cli_cmd, "train", "--resume", str(tmp_path))
    assert r.returncode == 2 and "not a grokscope run" in r.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_resume_with_conflicting_config_changes_nothing(cli_cmd, tmp_path):
    run = train(tiny_config(steps=12), tmp_path)
    before = ckpt_bytes(run.path), (run.path / "metrics.jsonl").read_text(), (run.path / "run.json").read_text()
    for args, needle in [
        (["--seed", "1"], "seed=0"),
        (["--lr", "0.01"], "lr=0.001"),
        (["--task", "mod17"], "task.p=13"),
    ]:
        r = run_cli(cli_cmd, "train", "--resume", str(run.path), *args)
        assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    after = ckpt_bytes(run.path), (run.path / "metrics.jsonl").read_text(), (run.path / "run.json").read_text()
    assert before == after


def test_existing_run_with_other_config_is_not_touched(cli_cmd, tmp_path):
    run = train(tiny_config(steps=12), tmp_path)
    before = ckpt_bytes(run.path)
    r = run_cli(cli_cmd, "train", "--task", "mod13", "--lr", "0.01", "--out", str(tmp_path), "--name", run.path.name)
    assert r.returncode == 2 and "another config" in r.stderr
    assert ckpt_bytes(run.path) == before


def test_train_runs_and_models_commands(cli_cmd, tmp_path):
    r = run_cli(cli_cmd, "train", "--task", "mod13", "--steps", "30", "--out", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli(cli_cmd, "runs", str(tmp_path))
    assert r.returncode == 0 and "mod13-grok1l-s0" in r.stdout
    r = run_cli(cli_cmd, "runs", str(tmp_path / "empty"))
    assert r.returncode == 2
    r = run_cli(cli_cmd, "models")
    assert r.returncode == 0 and "223,201" in r.stdout and "10,723,681" in r.stdout
    info = json.loads((tmp_path / "mod13-grok1l-s0" / "run.json").read_text())
    assert info["config"]["task"]["p"] == 13


def test_help_is_fast(cli_cmd):
    t0 = time.perf_counter()
    r = run_cli(cli_cmd, "--help")
    assert r.returncode == 0 and "train" in r.stdout
    assert time.perf_counter() - t0 < 2.0


def test_version(cli_cmd):
    from grokscope import __version__

    r = subprocess.run([*cli_cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == f"grokscope {__version__}\n"
    from pathlib import Path

    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__


def test_models_runs_and_sweep_status_read_metadata_without_torch(tiny_run, tmp_path):
    """Listing presets, runs and a sweep's state needs no torch (seconds on every call)."""
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from grokscope.cli.main import app; "
        "r = CliRunner().invoke(app, sys.argv[1:]); assert r.exit_code == 0, r.output; "
        "print('torch' in sys.modules)"
    )
    for args in (["models"], ["runs", str(tiny_run.path.parent)]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "False", (args, r.stdout, r.stderr)


def test_resume_of_a_run_that_stopped_after_grokking_says_why_nothing_trains(tiny_run, tmp_path, cli_cmd):
    """tiny_run groks (~600) and its stop_after_grok is None; a copy told to stop 20 steps after grokking
    has nothing to train whatever --steps says, and the command says which flag continues it."""
    import shutil

    run_dir = tmp_path / tiny_run.path.name
    shutil.copytree(tiny_run.path, run_dir)
    grok = tiny_run.grok_step
    r = subprocess.run(
        [*cli_cmd, "train", "--resume", str(run_dir), "--stop-after-grok", "20", "--steps", "5000", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (
        f"note: nothing to train: {run_dir.name} stops 20 steps after test accuracy reached 99% (step {grok:,})"
        f" and is at step 800; add --stop-after-grok -1 to train on to step 5,000"
    ) in r.stderr
    r = subprocess.run(
        [*cli_cmd, "train", "--resume", str(run_dir), "--steps", "820", "--stop-after-grok", "-1", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # the flag it named: it trains on
    assert r.returncode == 0 and "nothing to train" not in r.stderr and "820 steps" in r.stderr
