"""grokscope train with a character-level task: it trains, and bad input is one line, exit code 2."""

import json
import subprocess

import pytest


def run_cli(cli_cmd, *args, timeout=300):
    return subprocess.run(
        [*cli_cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--task", "arith-foo"], "unknown character-level task 'arith-foo'"),
        (["--task", "arith", "--preset", "gpt5"], "unknown model preset 'gpt5'"),
        (["--task", "capitals", "--block-size", "24"], "block size 24 is shorter than the longest line (41"),
        (["--task", "arith", "--block-size", "5"], "block size 5 is shorter than a line"),
        (["--task", "arith", "--frac", "0.5"], "--frac applies to mod<p> tasks only"),
        (["--task", "mod97", "--dropout", "0.1"], "--dropout applies to character-level tasks"),
        (["--task", "mod97", "--warmup", "5"], "--warmup applies to character-level tasks"),
        (["--task", "arith", "--lr", "1e-3", "--min-lr", "1e-2"], "need 0 < min_lr <= lr"),
        (["--task", "arith", "--dropout", "1.5"], "dropout must be in [0, 1)"),
    ],
)
def test_bad_arguments(cli_cmd, tmp_path, args, needle):
    r = run_cli(cli_cmd, "train", "--out", str(tmp_path), *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and needle in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_malformed_facts_file(cli_cmd, tmp_path):
    f = tmp_path / "facts.txt"
    f.write_text("Capital of Peru is Lima\nCapital of Chile, Santiago\n")
    r = run_cli(cli_cmd, "train", "--task", "capitals", "--facts-file", str(f), "--out", str(tmp_path))
    assert r.returncode == 2 and "facts.txt line 2: expected 'Capital of <country> is <capital>'" in r.stderr


def test_trains_a_char_task_and_resumes(cli_cmd, tmp_path):
    r = run_cli(
        cli_cmd,
        "train",
        "--task",
        "arith-clean",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--batch-size",
        "16",
        "--out",
        str(tmp_path),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "arith-clean-n14-s1337"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["finished"] and info["config"]["task"]["kind"] == "char_arith"
    assert info["config"]["train"]["lr"] == 1e-2 and info["config"]["train"]["beta2"] == 0.99
    # the paper's 2,000 / 25,000 of 30,000 steps, scaled to 4
    assert (info["config"]["train"]["warmup"], info["config"]["train"]["lr_decay_steps"]) == (0, 3)
    r = run_cli(cli_cmd, "train", "--resume", str(run_dir), "--steps", "6", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads((run_dir / "run.json").read_text())["final_step"] == 6
    r = run_cli(cli_cmd, "train", "--resume", str(run_dir), "--dropout", "0.3")
    assert r.returncode == 2 and "run has dropout=0.0" in r.stderr
    r = run_cli(cli_cmd, "train", "--resume", str(run_dir), "--warmup", "7")
    assert r.returncode == 2 and "run has warmup=0" in r.stderr


def test_schedule_flags_reach_the_config(cli_cmd, tmp_path):
    r = run_cli(
        cli_cmd,
        "train",
        "--task",
        "arith",
        "--steps",
        "2",
        "--eval-every",
        "2",
        "--batch-size",
        "16",
        "--warmup",
        "1",
        "--lr",
        "3e-3",
        "--min-lr",
        "1e-5",
        "--out",
        str(tmp_path),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    train = json.loads((tmp_path / "arith-n14-s1337" / "run.json").read_text())["config"]["train"]
    assert (train["warmup"], train["lr"], train["min_lr"]) == (1, 3e-3, 1e-5)
