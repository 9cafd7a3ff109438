"""The Ray backend: each run a Ray task, on a local Ray instance or on an existing cluster.

A task asks for ``threads`` CPUs (and one GPU with ``--device cuda``) and runs the same
:func:`~grokscope.sweeps.jobs.train_job` as a local worker, writing into the sweep folder. On a
cluster that folder must be one every node mounts (NFS and the like): it is checked at start by
a task on each node, which must find a token file the driver just wrote. A task whose worker
dies (the node lost, the process killed) is retried by Ray up to ``MAX_RETRIES`` times, and the
retry resumes the run from its last checkpoint (a killed process's run lock is released by the
kernel). grokscope must be installed on every node, at the driver's version.
"""

import os
import secrets
import socket
from typing import Any

from grokscope.sweeps.jobs import Outcome, RunJob, one_line, train_job

MAX_RETRIES = 3
INSTALL = "pip install 'grokscope[ray]'"
_TOKEN = ".sweep-shared-check-{}"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(f"--backend ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def _no_cluster(address: str, why: str) -> ValueError:
    return ValueError(
        f"no Ray cluster to join at --address {address} ({why}): start one with 'ray start --head', "
        "or drop --address for a local instance"
    )


def _auto_address() -> str | None:
    """The head ``--address auto`` would join, as HOST:PORT, found the way Ray finds it (RAY_ADDRESS,
    the newest ``ray start``, a GCS process running here); None where this Ray cannot say."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # a Ray without this (private) lookup: ray.init finds it alone
        return None
    try:
        return canonicalize_bootstrap_address("auto")
    except ConnectionError:
        raise _no_cluster("auto", "none runs on this machine, and RAY_ADDRESS is not set") from None


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse, in one line, a cluster address nothing answers at (before Ray's own long retries)."""
    given = address
    if address == "auto":
        # A GCS that is gone but still noted (or still exiting) would make ray.init retry for a
        # minute and then end the process from C++, with no error to catch.
        found = _auto_address()
        if found is None:
            return
        address = found
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--address {given!r} is not HOST:PORT (the head's address, e.g. 10.0.0.1:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        if given == "auto":
            raise _no_cluster("auto", f"the cluster found, at {address}, does not answer: {e.strerror or e}") from None
        raise ValueError(
            f"no Ray cluster answers at {address} ({e.strerror or e}): start one with "
            "'ray start --head' there, or drop --address for a local instance"
        ) from None


class RayBackend:
    """Ray tasks of ``threads`` CPUs each; ``workers`` of them in flight (default: as many as the cluster fits)."""

    name = "ray"

    def __init__(self, *, out: str, workers: int | None, threads: int, device: str, address: str | None) -> None:
        ray = _import_ray()
        self._ray = ray
        gpu = device.startswith("cuda")
        self._started = False
        self._refs: dict[Any, RunJob] = {}
        if not ray.is_initialized():
            if address is not None:
                check_address(address)
                try:
                    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
                except ConnectionError as e:  # a head that answers but is no Ray, and the like
                    raise _no_cluster(address, one_line(e)[:120]) from None
            else:
                from grokscope.sweeps.backends.capacity import default_workers

                n = workers if workers is not None else default_workers(threads, device)
                # A busy machine (every core training) can delay the raylet's heartbeats by seconds: our
                # own instance waits minutes, not Ray's default ~30 s, before it calls its node dead.
                # address="local": a new instance of our own, even if a cluster runs on this machine
                # (plain ray.init() would join it, and refuse num_cpus there).
                ray.init(
                    address="local",
                    num_cpus=n * threads,
                    num_gpus=None if gpu else 0,
                    include_dashboard=False,
                    logging_level="ERROR",
                    log_to_driver=False,
                    _system_config={
                        "health_check_period_ms": 5000,
                        "health_check_timeout_ms": 30000,
                        "health_check_failure_threshold": 20,
                    },
                )
            self._started = True
        resources = ray.cluster_resources()
        fits = int(resources.get("GPU", 0)) if gpu else int(resources.get("CPU", 0) // threads)
        if fits < 1:
            self.close()
            need = "a GPU" if gpu else f"{threads} CPUs"
            raise ValueError(f"the Ray cluster has no node with {need} free for a run: lower --threads or add nodes")
        self.capacity = min(workers, fits) if workers is not None else fits
        self._task = ray.remote(
            num_cpus=threads, num_gpus=1 if gpu else 0, max_retries=MAX_RETRIES, retry_exceptions=False
        )(train_job)
        try:
            check_shared(ray, out)
        except ValueError:
            self.close()
            raise

    def submit(self, job: RunJob) -> None:
        self._refs[self._task.remote(job)] = job

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        ended = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                ended.append(self._ray.get(ref))
            except Exception as e:
                ended.append(
                    Outcome(job.name, False, f"the Ray task failed after {MAX_RETRIES} retries ({one_line(e)[:200]})")
                )
        return ended

    def close(self) -> None:
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:
                pass
        self._refs = {}
        if self._started:
            self._ray.shutdown()
            self._started = False


def _sees_token(path: str, token: str) -> tuple[str, bool]:
    import ray

    try:
        with open(path) as f:
            ok = f.read() == token
    except OSError:
        ok = False
    return ray.get_runtime_context().get_node_id(), ok


def check_shared(ray: Any, out: str, timeout: float = 120.0) -> None:
    """Every alive node must see the file the driver writes in ``out``; else a one-line ``ValueError``."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    os.makedirs(out, exist_ok=True)
    token = secrets.token_hex(16)
    path = os.path.abspath(os.path.join(out, _TOKEN.format(token[:8])))
    with open(path, "w") as f:
        f.write(token)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        probe = ray.remote(num_cpus=0)(_sees_token)
        refs = [
            probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
                path, token
            )
            for n in nodes
        ]
        ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if waiting:
            raise ValueError(
                f"{len(waiting)} Ray node(s) did not answer within {timeout:.0f} s: check the cluster with 'ray status'"
            )
        missing = [node for node, ok in ray.get(ready) if not ok]
        if missing:
            names = {n["NodeID"]: n.get("NodeManagerAddress", n["NodeID"]) for n in nodes}
            raise ValueError(
                f"--out {out} is not shared across the Ray cluster: node(s) "
                f"{', '.join(names.get(m, m) for m in missing)} do not see it; give a folder every "
                "node mounts (e.g. on NFS)"
            )
    finally:
        os.unlink(path)


__all__ = ["INSTALL", "MAX_RETRIES", "RayBackend", "check_address", "check_shared"]
