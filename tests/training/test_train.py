"""Trainer: determinism, the run store it writes, kill-and-resume, and the general (non-fast) path."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from grokscope.store.run import load_run
from grokscope.training.train import resume, train
from tests.conftest import ckpt_bytes, tiny_config, tl_independent


@tl_independent
def test_same_config_twice_gives_bit_identical_checkpoints(tmp_path):
    a = train(tiny_config(), tmp_path / "a")
    b = train(tiny_config(), tmp_path / "b")
    assert a.steps == b.steps and len(a.steps) > 5
    assert ckpt_bytes(a.path) == ckpt_bytes(b.path)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(a.metrics_rows()) == strip(b.metrics_rows())


@tl_independent
def test_other_seed_gives_other_weights(tmp_path):
    a = train(tiny_config(seed=0), tmp_path)
    b = train(tiny_config(seed=1), tmp_path)
    assert not torch.equal(a.state_dict(0)["embed.W_E"], b.state_dict(0)["embed.W_E"])


def test_run_store_layout_and_api(tmp_path):
    run = train(tiny_config(steps=40), tmp_path)
    assert run.steps == [0, 1, 2, 3, 4, 6, 8, 12, 16, 20, 40]
    info = json.loads((run.path / "run.json").read_text())
    assert info["finished"] and info["versions"]["torch"] == torch.__version__
    assert info["versions"]["transformer_lens"] == version("transformer-lens")
    df = run.metrics()
    assert {"train_loss", "test_loss", "train_acc", "test_acc"} <= set(df.columns)
    assert df.index[0] == 0 and df.index[-1] == 40
    # Only the two newest resume states are kept (the older one for a fall-back).
    assert sorted(p.name for p in (run.path / "resume").iterdir()) == [
        "state_0000020.safetensors",
        "state_0000040.safetensors",
    ]
    model = run.model(40)
    data = run.task.dataset()
    logits = model(data.tokens()[data.train_idx])[:, -1]
    loss = torch.nn.functional.cross_entropy(logits.double(), data.labels[data.train_idx]).item()
    # The last row is the state at step 40: the saved model reproduces its train loss.
    assert loss == pytest.approx(df.loc[40, "train_loss"], rel=1e-4)
    stack = run.stack(["blocks.0.mlp.W_in"])
    assert stack.params["blocks.0.mlp.W_in"].shape == (len(run.steps), 128, 512)
    assert torch.equal(stack.params["blocks.0.mlp.W_in"][-1], run.state_dict(40)["blocks.0.mlp.W_in"])
    with pytest.raises(KeyError, match="steps present: 0, 1, 2"):
        run.state_dict(5)


@tl_independent
def test_fused_training_does_not_import_transformer_lens(tmp_path):
    # Importing it is ~5 s, half of `grokscope train`'s start-up; the fused step needs only the
    # parameters. A fresh interpreter, since this test session has long imported it.
    code = (
        "import sys; from tests.conftest import tiny_config; from grokscope.training.train import train; "
        f"run = train(tiny_config(steps=3), {str(tmp_path)!r}, device='cpu'); "
        "assert run.steps[-1] == 3; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('transformer_lens', 'transformers')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2]
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@tl_independent
def test_learns_mod_addition(tmp_path):
    # Fast-path training really fits the data: mod 23, 50% train, memorizes within 300 steps.
    cfg = tiny_config(p=23, steps=300, eval_every=50, ckpt_every=100)
    run = train(cfg, tmp_path)
    assert run.metrics()["train_acc"].iloc[-1] == 1.0


def test_general_path_trains_a_layernorm_preset(tmp_path):
    run = train(tiny_config(preset="n14", steps=30), tmp_path)
    df = run.metrics()
    assert df["train_loss"].iloc[-1] < df["train_loss"].iloc[0]


@tl_independent
def test_resume_in_process_is_bit_identical(tmp_path):
    full = train(tiny_config(steps=80), tmp_path / "full")
    part = train(tiny_config(steps=50), tmp_path / "part")
    resumed = resume(part.path, steps=80)
    # The stop at 50 left one off-schedule checkpoint; every other file matches byte for byte.
    assert resumed.steps == sorted({*full.steps, 50})
    got = ckpt_bytes(resumed.path)
    assert got.pop("step_0000050.safetensors")
    assert got == ckpt_bytes(full.path)


@tl_independent
def test_stop_after_grok(tmp_path):
    run = train(tiny_config(p=23, frac=0.8, steps=3000, eval_every=10, stop_after_grok=30), tmp_path)
    assert run.grok_step is not None
    assert run.steps[-1] == run.grok_step + 30
    assert run.metrics().loc[run.grok_step, "test_acc"] >= 0.99


@pytest.mark.slow  # ~25 s; the test command kills runs in tests/robustness/test_run_folder.py and tests/sweep/test_engine.py
@tl_independent
def test_kill_and_resume_is_bit_identical(tmp_path, cli_cmd):
    args = [
        "train",
        "--task",
        "mod13",
        "--steps",
        "1500",
        "--ckpt-every",
        "100",
        "--eval-every",
        "50",
        "--stop-after-grok",
        "-1",
        "--quiet",
    ]
    subprocess.run([*cli_cmd, *args, "--out", str(tmp_path / "full")], check=True, timeout=300)

    proc = subprocess.Popen([*cli_cmd, *args, "--out", str(tmp_path / "killed")])
    manifest = tmp_path / "killed" / "mod13-grok1l-s0" / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if len(json.loads(manifest.read_text())["checkpoints"]) >= 20:  # reached step ~600
                break
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = load_run(tmp_path / "killed" / "mod13-grok1l-s0")
    assert 600 <= killed.steps[-1] < 1500, "the kill should land mid-run"
    for step in killed.steps:  # everything listed is loadable
        killed.state_dict(step)

    subprocess.run([*cli_cmd, "train", "--resume", str(killed.path), "--quiet"], check=True, timeout=300)
    full = tmp_path / "full" / "mod13-grok1l-s0"
    assert ckpt_bytes(killed.path) == ckpt_bytes(full)
    strip = lambda p: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in load_run(p).metrics_rows()]  # noqa: E731
    assert strip(killed.path) == strip(full)
