"""The Ray backend on a real local Ray instance (no mocks): the same sweep as the local backend to the
byte, a worker killed mid-run retried and resumed, and a cluster whose nodes do not share --out refused."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grokscope.store.lock import lock_holder
from grokscope.store.run import load_run
from grokscope.sweeps.engine import run_sweep
from grokscope.sweeps.spec import spec_from_args
from tests.conftest import ckpt_bytes, tl_independent

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'grokscope[ray]')")
# Each test starts Ray instances of its own (the two-node cluster in a PID namespace of its own), so
# they may run side by side on two xdist workers.
pytestmark = tl_independent

SPEC = [
    "mod13",
    "--frac",
    "0.3,0.5",
    "--seed",
    "0",
    "--steps",
    "400",
    "--ckpt-every",
    "100",
    "--eval-every",
    "20",
    "--stop-after-grok",
    "-1",
]


def metrics(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in load_run(path).metrics_rows()]


def test_ray_and_local_backends_give_the_same_bytes(tmp_path):
    spec = spec_from_args(SPEC)
    local = run_sweep(spec, tmp_path / "local", backend="local", workers=2)
    ray = run_sweep(spec, tmp_path / "ray", backend="ray", workers=2)
    assert [e.state for e in ray.runs] == ["done"] * 2 and ray.backend["name"] == "ray"
    for e in local.runs:
        assert ckpt_bytes(tmp_path / "ray" / e.name) == ckpt_bytes(tmp_path / "local" / e.name), e.name
        assert len(ckpt_bytes(tmp_path / "ray" / e.name)) > 5
        assert metrics(tmp_path / "ray" / e.name) == metrics(tmp_path / "local" / e.name)


@pytest.mark.slow  # ~45 s: a Ray instance and a 3,000-step run
def test_a_killed_ray_worker_is_retried_and_its_run_resumes(tmp_path):
    spec = spec_from_args(
        ["mod13", "--steps", "3000", "--ckpt-every", "100", "--eval-every", "50", "--stop-after-grok", "-1"]
    )
    reference = run_sweep(spec, tmp_path / "local", workers=1)
    out = tmp_path / "ray"
    killed: list[int] = []

    def kill_worker(progress):
        pid = lock_holder(out / "run")
        if not killed and pid and progress.running.get("run", 0) > 0.3:
            os.kill(int(pid), signal.SIGKILL)  # the Ray worker process training the run
            killed.append(int(pid))

    record = run_sweep(spec, out, backend="ray", workers=1, on_progress=kill_worker, poll_s=0.1)
    assert killed, "the run ended before it could be killed"
    assert record.entry("run").state == "done", record.entry("run").reason
    run = load_run(out / "run")
    assert run.info["finished"] and run.steps[-1] == 3000
    # Resumed from its last checkpoint: bit-identical to the run that was never killed.
    assert ckpt_bytes(out / "run") == ckpt_bytes(tmp_path / "local" / reference.runs[0].name)
    assert metrics(out / "run") == metrics(tmp_path / "local" / "run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~20 s: a two-node cluster
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a second Ray node with a mount namespace of its own",
)
def test_an_out_folder_a_node_cannot_see_is_refused(tmp_path, cli_cmd):
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = _free_port()
    hidden = tmp_path / "shared"
    hidden.mkdir()
    # No token authentication on this throwaway loopback cluster: the driver and both nodes agree without a token file.
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    # The cluster lives in a PID namespace of its own: killing the namespace's first process ends every Ray
    # process it started and nothing else (`ray stop` would also kill the Ray instances of other tests and the
    # drivers attached to them, the pytest worker among them). The second node sees an empty tmpfs where the
    # driver's --out lies: like a node without the NFS mount.
    script = (
        f"{ray_cli} start --head --port={port} --num-cpus=1 --include-dashboard=false --disable-usage-stats"
        f" && unshare --mount --propagation private sh -c 'mount -t tmpfs none {hidden} && exec {ray_cli}"
        f" start --address=127.0.0.1:{port} --num-cpus=1 --disable-usage-stats'"
        " && echo CLUSTER-UP && exec sleep 3600"
    )
    cluster = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in cluster.stdout:
            seen.append(line)
            if "CLUSTER-UP" in line:
                break
        else:
            pytest.fail(f"no two-node Ray cluster in namespaces: {''.join(seen)[-1500:]}")
        deadline = time.time() + 60
        while time.time() < deadline:
            st = subprocess.run(
                [ray_cli, "status", f"--address=127.0.0.1:{port}"], capture_output=True, text=True, timeout=60, env=env
            )
            if st.stdout.count("node_") >= 2:
                break
            time.sleep(1)
        r = subprocess.run(
            [
                *cli_cmd,
                "sweep",
                "mod13",
                "--steps",
                "20",
                "--backend",
                "ray",
                "--address",
                f"127.0.0.1:{port}",
                "--out",
                str(hidden / "sweep"),
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
        assert lines[0].startswith(f"error: --out {hidden / 'sweep'} is not shared across the Ray cluster: node(s) ")
        assert not (hidden / "sweep" / "sweep.json").exists()
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=60)
        # `ray start` noted this cluster as the machine's current one; `ray stop` would have removed the note.
        note = Path("/tmp/ray/ray_current_cluster")
        if note.is_file() and f":{port}" in note.read_text():
            note.unlink()


def test_ray_refusals_are_one_line(tmp_path, cli_cmd):
    import ray

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:  # a cluster (here a 1-CPU instance) where no run of 2 threads fits
        with pytest.raises(ValueError, match="has no node with 2 CPUs free for a run: lower --threads"):
            run_sweep(spec_from_args(["mod13", "--steps", "20"]), tmp_path / "s", backend="ray", threads=2)
    finally:
        ray.shutdown()
    # Where auto looks first: a head that is gone (other tests' Ray instances may run meanwhile, and
    # auto would join them). Ray itself would retry it for a minute and then end the process from C++.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens there once the socket is closed
    start = time.monotonic()
    r = subprocess.run(
        [
            *cli_cmd,
            "sweep",
            "mod13",
            "--steps",
            "20",
            "--backend",
            "ray",
            "--address",
            "auto",
            "--out",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"RAY_ADDRESS": f"127.0.0.1:{port}"},
    )
    assert time.monotonic() - start < 40
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert re.match(
        rf"error: no Ray cluster to join at --address auto \(the cluster found, at [0-9.]+:{port}, does not answer",
        lines[0],
    ), lines[0]
    assert not (tmp_path / "t").exists()
