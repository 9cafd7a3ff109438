"""A run folder under faults: a second writer, a kill at any moment, damaged metrics, stale temporaries.

Every case checks the promise from the outside: the one-line answer and its exit code, and that
nothing written before is lost or changed.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app
from grokscope.store.run import METRICS_FILE, Run, read_metrics_file
from grokscope.training.train import resume, train
from tests.conftest import ckpt_bytes, tiny_config, tl_independent

pytestmark = tl_independent

TRAIN = [
    "train",
    "--task",
    "mod13",
    "--frac",
    "0.5",
    "--ckpt-every",
    "10",
    "--eval-every",
    "5",
    "--quiet",
    "--device",
    "cpu",
]


def cli(*args):
    """The command in this process (a subprocess would pay torch's import again): its exit code and stderr."""
    r = CliRunner().invoke(app, list(args))
    return SimpleNamespace(returncode=r.exit_code, stderr=r.stderr)


def start_cli(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "grokscope.cli.main", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate, timeout=60.0):
    t0 = time.time()
    while not predicate():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_a_second_writer_is_refused_naming_the_first(tmp_path):
    first = start_cli(*TRAIN, "--steps", "100000", "--stop-after-grok", "-1", "--out", str(tmp_path))
    run_dir = tmp_path / "mod13-grok1l-f0.5-s0"
    try:
        wait_for(lambda: (run_dir / "manifest.json").is_file())
        before = (run_dir / "run.json").read_text()
        second = cli(*TRAIN, "--steps", "100000", "--stop-after-grok", "-1", "--out", str(tmp_path))
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {first.pid}" in lines[0], lines
        third = cli("train", "--resume", str(run_dir), "--steps", "5", "--quiet")
        assert third.returncode == 2 and f"pid {first.pid}" in third.stderr
        assert first.poll() is None, "the first writer must go on untouched"
        assert (run_dir / "run.json").read_text() == before
    finally:
        first.kill()
        first.wait()
    # Its lock dies with it: the same command continues the run.
    done = cli(*TRAIN, "--steps", "60", "--stop-after-grok", "-1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr


def test_killed_at_random_moments_then_restarted_ends_as_an_uninterrupted_run(tmp_path):
    args = [*TRAIN, "--steps", "300", "--stop-after-grok", "-1"]
    reference = cli(*args, "--out", str(tmp_path / "ref"))
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    # Kill before anything exists, before the first manifest, and in the middle of training.
    for delay in (0.3, 1.5, 2.5, 3.5):
        proc = start_cli(*args, "--out", str(out))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = cli(*args, "--out", str(out))
    assert final.returncode == 0, final.stderr
    name = "mod13-grok1l-f0.5-s0"
    assert ckpt_bytes(out / name) == ckpt_bytes(tmp_path / "ref" / name)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(Run(out / name).metrics_rows()) == strip(Run(tmp_path / "ref" / name).metrics_rows())
    assert not list((out / name).rglob("*.tmp"))


def test_a_run_without_any_checkpoint_starts_afresh_saying_so(tmp_path):
    ref = train(tiny_config(steps=12), tmp_path / "ref")
    config = ref.config
    # What a kill before the first manifest leaves: run.json and a metrics row, no checkpoint.
    broken = tmp_path / "broken" / ref.path.name
    broken.mkdir(parents=True)
    (broken / "run.json").write_text((ref.path / "run.json").read_text())
    (broken / METRICS_FILE).write_text(json.dumps({"step": 0, "train_loss": 1.0}) + "\n")
    with pytest.warns(RuntimeWarning, match="no checkpoint of it yet: starting it afresh"):
        again = train(config, tmp_path / "broken")
    assert ckpt_bytes(again.path) == ckpt_bytes(ref.path)
    assert [r["step"] for r in again.metrics_rows()] == [r["step"] for r in ref.metrics_rows()]


def test_damaged_metrics_lines_are_kept_reported_and_never_cut_the_rows_short(tmp_path):
    run = train(tiny_config(steps=40, eval_every=5, ckpt_every=20), tmp_path)
    file = run.path / METRICS_FILE
    lines = file.read_text().splitlines()
    garbage = "{not json"
    lines.insert(3, garbage)
    file.write_text("\n".join(lines) + "\n")
    read = read_metrics_file(run.path)
    assert read.bad_lines == [4] and len(read.rows) == len(lines) - 1
    # A resume from step 40 (the last checkpoint) keeps every line before that step's row as it is.
    before = file.read_text()
    cut = before[: before.index('{"step": 40,')]
    resume(run.path, steps=60, device="cpu")
    after = file.read_text()
    assert after.startswith(cut) and garbage in after
    assert [r["step"] for r in Run(run.path).metrics_rows()][-1] == 60
    assert read_metrics_file(run.path).bad_lines == [4]


def test_stale_temporaries_are_removed_by_the_next_writer_only(tmp_path):
    run = train(tiny_config(steps=10, ckpt_every=5), tmp_path)
    stale = [run.path / ".run.json.abc123.tmp", run.path / "ckpt" / ".step_0000010.safetensors.x.tmp"]
    for f in stale:
        f.write_bytes(b"half a file")
    Run(run.path).metrics_rows()  # a reader leaves them alone
    assert all(f.exists() for f in stale)
    resume(run.path, steps=15, device="cpu")
    assert not any(f.exists() for f in stale)


def test_a_refused_resume_writes_nothing_not_even_the_lock(tmp_path):
    run = train(tiny_config(steps=10), tmp_path)
    os.remove(run.path / ".lock")
    snapshot = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="run has seed=0"):
        resume(run.path, expect={"seed": 3})
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()} == snapshot


def test_a_symlinked_lock_file_is_not_followed(tmp_path):
    run = train(tiny_config(steps=10), tmp_path / "runs")
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    lock = run.path / ".lock"
    lock.unlink()
    lock.symlink_to(target)
    with warnings.catch_warnings(), pytest.raises(ValueError, match="cannot take the writer's lock"):
        resume(run.path, steps=20)
    assert target.read_text() == "keep me"


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before_and_ends_the_same(tmp_path):
    ref = train(tiny_config(steps=60, ckpt_every=20), tmp_path / "ref")
    cut = train(tiny_config(steps=40, ckpt_every=20), tmp_path / "cut")
    newest = cut.path / "ckpt" / "step_0000040.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="resuming from step 20, the newest whole one"):
        resume(cut.path, steps=60, device="cpu")
    assert ckpt_bytes(cut.path) == ckpt_bytes(ref.path)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert strip(Run(cut.path).metrics_rows()) == strip(Run(ref.path).metrics_rows())


def test_a_resume_that_cannot_load_rewrites_nothing(tmp_path):
    run = train(tiny_config(steps=40, ckpt_every=20), tmp_path)
    for name in ("step_0000040", "step_0000020"):
        f = run.path / "ckpt" / f"{name}.safetensors"
        f.write_bytes(b"garbage")
    snapshot = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file() and p.name != ".lock"}
    with pytest.raises(ValueError, match="no checkpoint of .* can be resumed .*restore the files from a backup"):
        resume(run.path, steps=60, device="cpu")
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file() and p.name != ".lock"} == snapshot
    assert json.loads((run.path / "run.json").read_text())["finished"] is True


def test_readers_never_block_nor_see_a_half_written_checkpoint(tmp_path):
    trainer = start_cli(
        *TRAIN, "--steps", "100000", "--stop-after-grok", "-1", "--ckpt-every", "5", "--out", str(tmp_path)
    )
    run_dir = tmp_path / "mod13-grok1l-f0.5-s0"
    try:
        wait_for(lambda: (run_dir / "manifest.json").is_file())
        seen: set[int] = set()
        t0 = time.time()
        while time.time() - t0 < 4.0:  # read every committed checkpoint while the trainer writes more
            run = Run(run_dir)
            stack = run.stack(["embed.W_E"])
            assert stack.skipped == [], stack.skipped
            seen |= set(stack.steps)
        assert len(seen) > 5 and trainer.poll() is None
    finally:
        trainer.kill()
        trainer.wait()
