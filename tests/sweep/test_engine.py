"""The sweep engine on the local backend: kill and continue bit-identically, failures recorded while
the rest finish, a dead worker, refusals that write nothing, and the command line around it."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app
from grokscope.store.lock import lock_holder
from grokscope.store.run import load_run
from grokscope.sweeps.engine import run_sweep
from grokscope.sweeps.record import read_record
from grokscope.sweeps.spec import spec_from_args
from tests.conftest import ckpt_bytes, one_line_error, tl_independent

pytestmark = tl_independent

# Two mod-13 runs of 1,500 steps (~5 s each): long enough to be killed mid-run.
ARGS = [
    "mod13",
    "--seed",
    "0..1",
    "--steps",
    "1500",
    "--ckpt-every",
    "100",
    "--eval-every",
    "50",
    "--stop-after-grok",
    "-1",
]


def strip(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in load_run(path).metrics_rows()]


def same_runs(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert ckpt_bytes(a / name) == ckpt_bytes(b / name), name
        assert ckpt_bytes(a / name)  # not two empty folders
        assert strip(a / name) == strip(b / name), name


@pytest.fixture(scope="module")
def full_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "sweep"
    run_sweep(spec_from_args(ARGS), out)
    return out


def test_killed_sweep_continues_bit_identically(full_sweep, tmp_path, cli_cmd):
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cli_cmd, "sweep", *ARGS, "--out", str(out), "--workers", "1", "--quiet"], stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    manifest = out / "seed0" / "manifest.json"
    while time.time() < deadline:
        try:
            if len(json.loads(manifest.read_text())["checkpoints"]) >= 20:  # seed0 is past step ~600
                break
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # the sweep process itself: its workers must die with it
    proc.wait()
    record = read_record(out)
    assert record.entry("seed0").state == "running" and record.entry("seed1").state == "pending"
    deadline = time.time() + 10
    while lock_holder(out / "seed0") and time.time() < deadline:
        time.sleep(0.05)
    assert not lock_holder(out / "seed0"), "a worker outlived the sweep process"
    killed_at = load_run(out / "seed0").steps[-1]
    assert 600 <= killed_at < 1500, "the kill should land mid-run"

    status = subprocess.run(
        [*cli_cmd, "sweep", "status", str(out), "--json"], capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert "interrupted" in status.stdout  # recorded running, but no sweep process holds the lock

    r = subprocess.run(
        [*cli_cmd, "sweep", *ARGS, "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "2 of 2 runs done, 0 failed" in r.stderr
    record = read_record(out)
    assert [e.state for e in record.runs] == ["done"] * 2
    assert record.entry("seed0").attempts == 2 and record.entry("seed1").attempts == 1
    same_runs(out, full_sweep, ["seed0", "seed1"])

    again = subprocess.run(
        [*cli_cmd, "sweep", *ARGS, "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=120
    )  # all done: nothing is trained, nothing rewritten
    assert again.returncode == 0 and read_record(out).entry("seed0").attempts == 2
    same_runs(out, full_sweep, ["seed0"])


def test_failing_runs_are_recorded_while_the_rest_finish(tmp_path):
    spec = spec_from_args(
        [
            "mod13",
            "--lr",
            "1e-3,1e30",
            "--frac",
            "0.3,1.5",
            "--steps",
            "100",
            "--eval-every",
            "10",
            "--stop-after-grok",
            "-1",
        ]
    )
    notes = []
    record = run_sweep(spec, tmp_path / "s", on_progress=lambda p: notes.extend(p.notes))
    states = {e.name: (e.state, e.reason) for e in record.runs}
    assert states["lr0.001-frac0.3"] == ("done", None)
    assert states["lr1e+30-frac0.3"] == ("failed", "train loss became nan at step 2")
    for name in ("lr0.001-frac1.5", "lr1e+30-frac1.5"):  # never started: the config is invalid
        assert states[name][0] == "failed" and "frac (the train fraction) must be" in states[name][1]
        assert not (tmp_path / "s" / name).exists()
    assert load_run(tmp_path / "s" / "lr0.001-frac0.3").info["finished"]
    assert any("lr1e+30-frac0.3 failed: train loss became nan" in n for n in notes)
    assert read_record(tmp_path / "s") == record

    record = run_sweep(spec, tmp_path / "s")  # again: the NaN run is tried again, the done one is not
    assert record.entry("lr1e+30-frac0.3").attempts == 2 and record.entry("lr0.001-frac0.3").attempts == 1


def test_a_worker_that_dies_fails_its_run_and_the_sweep_goes_on(tmp_path):
    assert ARGS[3:5] == ["--steps", "1500"]
    spec = spec_from_args([*ARGS[:4], "600", *ARGS[5:]])  # killed at 20% of its steps: 600 are enough
    out = tmp_path / "s"
    killed = []

    def kill_seed0(progress):
        pid = lock_holder(out / "seed0")
        if not killed and pid and progress.running.get("seed0", 0) > 0.2:
            os.kill(int(pid), signal.SIGKILL)
            killed.append(pid)

    record = run_sweep(spec, out, workers=2, on_progress=kill_seed0, poll_s=0.1)
    assert killed
    assert record.entry("seed0").state == "failed"
    assert record.entry("seed0").reason == "the worker process died (killed by SIGKILL)"
    assert record.entry("seed1").state == "done"
    record = run_sweep(spec, out)  # the same sweep again: seed0 resumes from its last checkpoint
    assert record.entry("seed0").state == "done" and load_run(out / "seed0").info["finished"]


def test_refusals_write_nothing(tmp_path):
    out = tmp_path / "s"
    small = ["mod13", "--frac", "0.3,0.5", "--steps", "20", "--eval-every", "10", "--stop-after-grok", "-1"]
    run_sweep(spec_from_args(small), out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def refused(args, needle):
        one_line_error(CliRunner().invoke(app, ["sweep", *args]), needle)
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    refused([*small[:2], "0.3,0.6", *small[3:], "--out", str(out)], "holds another sweep (frac: it has 0.3, 0.5")
    refused(["mod13", "--out", str(out / "frac0.3")], "exists and is not a sweep")
    refused(
        ["mod13", "--seed", "0..9", "--frac", "0.1,0.2", "--max-runs", "10", "--out", str(out)],
        "the grid has 20 runs (10 x 2), more than --max-runs 10",
    )
    refused(["mod13", "--frac", "1.5", "--out", str(tmp_path / "new")], "frac (the train fraction) must be")
    refused(["mod13", "--worker", "2"], "unknown option --worker")
    refused(
        ["mod13", "--backend", "ray", "--address", "127.0.0.1:1", "--out", str(tmp_path / "new")],
        "no Ray cluster answers at 127.0.0.1:1",
    )
    refused(["mod13", "--threads", "0", "--out", str(tmp_path / "new")], "threads must be an integer in 1..")
    assert not (tmp_path / "new").exists()

    r = CliRunner().invoke(app, ["sweep", *small, "--out", str(out), "--dry-run"])  # the sweep there: its states
    assert r.exit_code == 0 and "frac0.3  20 steps, done" in r.stdout, r.stdout
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    r = CliRunner().invoke(app, ["sweep", *small, "--seed", "0..2", "--out", str(tmp_path / "d"), "--dry-run"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"mod13: frac 2 values x seed 3 values = 6 runs in {tmp_path / 'd'}"
    assert "frac0.5-seed2  20 steps" in r.stdout and not (tmp_path / "d").exists()


def test_one_sweep_process_at_a_time(tmp_path, cli_cmd):
    out = tmp_path / "s"
    proc = subprocess.Popen(
        [*cli_cmd, "sweep", *ARGS[:1], "--steps", "20000", "--stop-after-grok", "-1", "--out", str(out), "-q"]
    )
    try:
        deadline = time.time() + 60
        while lock_holder(out, ".sweep.lock") is None and time.time() < deadline:
            time.sleep(0.05)
        r = subprocess.run(
            [*cli_cmd, "sweep", *ARGS[:1], "--steps", "20000", "--stop-after-grok", "-1", "--out", str(out), "-q"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and f"is being swept by another process (pid {proc.pid})" in r.stderr
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the run in flight goes back to pending
        proc.wait(60)
    assert proc.returncode == 130
    assert read_record(out).entry("run").state == "pending"


def test_a_run_folder_that_is_a_link_is_never_trained_through(tmp_path):
    spec = spec_from_args(
        ["mod13", "--frac", "0.3,0.5", "--steps", "20", "--eval-every", "10", "--stop-after-grok", "-1"]
    )
    out, outside = tmp_path / "s", tmp_path / "outside"
    run_sweep(spec, out)
    outside.mkdir()
    import shutil

    shutil.rmtree(out / "frac0.3")
    (out / "frac0.3").symlink_to(outside)
    record = run_sweep(spec, out)  # frac0.3 is done, so skipped: nothing is read or written through the link
    assert list(outside.iterdir()) == []
    raw = json.loads((out / "sweep.json").read_text())
    raw["runs"][0]["state"] = "pending"  # as if it had been interrupted
    (out / "sweep.json").write_text(json.dumps(raw))
    record = run_sweep(spec, out)
    assert (
        record.entry("frac0.3").state == "failed"
        and "is a symbolic link, not followed" in record.entry("frac0.3").reason
    )
    assert record.entry("frac0.5").state == "done" and list(outside.iterdir()) == []


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: "[" * 100_000 + "]" * 100_000, "damaged"),
        (lambda d: json.dumps(d | {"runs": [r | {"wall_s": 10**400} for r in d["runs"]]}), "bad wall time"),
        (lambda d: json.dumps(d | {"backend": {"workers": 10**400}}), "bad backend"),
        (
            lambda d: json.dumps(
                d
                | {
                    "spec": {
                        "axes": [["task", ["mod13"]], ["seed", list(range(1000))], ["steps", list(range(1, 1001))]]
                    }
                }
            ),
            "the grid has 1,000,000 runs",
        ),
        (
            lambda d: json.dumps(d | {"spec": {"axes": [["task", ["mod13"]], ["seed", list(range(100))]]}}),
            "its spec makes 100 runs but it lists 2",
        ),
        (lambda d: json.dumps(d).replace('"wall_s": null', '"wall_s": NaN', 1), "NaN is not a number"),
        (lambda d: json.dumps(d | {"format": True}), "not a format-1 sweep file"),
    ],
)
def test_crafted_sweep_files_are_one_line_errors(tmp_path, damage, needle):
    out = tmp_path / "s"
    spec = spec_from_args(["mod13", "--frac", "0.3,0.5", "--steps", "20", "--eval-every", "10"])
    from grokscope.sweeps.record import new_record, write_record

    out.mkdir()
    write_record(out, new_record(spec, "now"))
    (out / "sweep.json").write_text(damage(json.loads((out / "sweep.json").read_text())))
    t0 = time.time()
    for args in (
        ["status", str(out)],
        ["report", str(out)],
        ["mod13", "--frac", "0.3,0.5", "--steps", "20", "--eval-every", "10", "--out", str(out)],
    ):
        r = CliRunner().invoke(app, ["sweep", *args])
        one_line_error(r, "is damaged")
        assert needle in r.stderr, r.stderr
    assert time.time() - t0 < 60


def test_status_of_a_run_that_has_not_written_its_config_yet(tmp_path):
    from grokscope.store.lock import RunLock
    from grokscope.sweeps.record import RunEntry, new_record, write_record

    out = tmp_path / "s"
    out.mkdir()
    spec = spec_from_args(["mod13", "--seed", "0..1"])
    record = new_record(spec, "now")
    write_record(out, record.with_entry(RunEntry("seed0", {"seed": 0}, "running", None, 1, None)))
    with RunLock(out, file=".sweep.lock", doing="swept"):  # as a live sweep process holds it
        r = CliRunner().invoke(app, ["sweep", "status", str(out)])
    assert r.exit_code == 0, r.stderr
    assert "0/2 done, 1 running, 1 pending; running (pid" in r.stdout and "seed0  running  step - of " in r.stdout


def test_python_api_sweep_and_load_sweep(tmp_path):
    import grokscope as gs

    options = dict(frac=[0.3, 0.5], seed="0..1", steps=40, eval_every=10, stop_after_grok=-1)
    sw = gs.sweep("mod13", out=tmp_path / "s", progress=False, **options)
    assert isinstance(sw, gs.Sweep) and [e.state for e in sw.runs] == ["done"] * 4
    table = sw.table()
    assert list(table["run"]) == ["frac0.3-seed0", "frac0.3-seed1", "frac0.5-seed0", "frac0.5-seed1"]
    assert list(table["steps"]) == [40] * 4
    # Again, after grokscope.sweeps has been imported: gs.sweep is still the function, and it continues.
    again = gs.sweep("mod13", out=tmp_path / "s", progress=False, **options)
    assert [e.attempts for e in again.runs] == [1] * 4
    assert gs.load_sweep(tmp_path / "s").run("frac0.5-seed1").steps[-1] == 40
    with pytest.raises(ValueError, match="holds another sweep"):
        gs.sweep("mod13", out=tmp_path / "s", progress=False, **(options | {"steps": 50}))
