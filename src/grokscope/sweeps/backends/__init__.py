"""Where a sweep's runs are trained. A backend takes jobs and hands back outcomes; the engine
(``sweep/engine.py``) decides what to run, keeps ``sweep.json`` and reports progress.

- ``local``: worker processes on this machine (:mod:`.local`).
- ``ray``: Ray tasks, on a local Ray instance or an existing cluster (:mod:`.ray_cluster`).

A new backend (batched seeds on one GPU, SLURM jobs, ...) is one class with the three methods of
:class:`Backend` and an entry in :data:`BACKENDS`; nothing else changes. Each backend must
train a job with :func:`grokscope.sweeps.jobs.train_job`, so a run comes out the same wherever
it trained, and must report a lost worker as a failed outcome (or retry it) rather than hang.
"""

from typing import Protocol, runtime_checkable

from grokscope.sweeps.backends.capacity import default_workers
from grokscope.sweeps.jobs import Outcome, RunJob


@runtime_checkable
class Backend(Protocol):
    """``capacity`` jobs may be in flight at once; ``wait`` returns those that ended (maybe none)."""

    name: str
    capacity: int

    def submit(self, job: RunJob) -> None: ...

    def wait(self, timeout: float) -> list[Outcome]: ...

    def close(self) -> None: ...


BACKENDS = ("local", "ray")


def make_backend(
    name: str, *, out: str, workers: int | None, threads: int, device: str, address: str | None = None
) -> Backend:
    """The backend called ``name`` (``local`` or ``ray``), ready to take jobs."""
    if name == "local":
        if address is not None:
            raise ValueError("--address is for --backend ray; drop it or add --backend ray")
        from grokscope.sweeps.backends.local import LocalBackend

        return LocalBackend(workers=workers, threads=threads, device=device)
    if name == "ray":
        from grokscope.sweeps.backends.ray_cluster import RayBackend

        return RayBackend(out=out, workers=workers, threads=threads, device=device, address=address)
    raise ValueError(f"unknown backend {name!r}: choose {' or '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "default_workers", "make_backend"]
