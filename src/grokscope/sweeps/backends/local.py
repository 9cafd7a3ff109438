"""The local backend: a pool of worker processes on this machine, one run at a time each.

Workers are started with ``spawn`` (a fresh interpreter: no torch or OpenMP state inherited from
the caller) and kept for the whole sweep, so each pays its imports once. They die with the
process that runs the sweep: if that process is killed (even with SIGKILL), the kernel kills
them too (``PR_SET_PDEATHSIG`` on Linux), so no orphan keeps training or keeps a run's lock, and
the same sweep command started again resumes every interrupted run from its last checkpoint.
A worker that dies mid-run (killed, out of memory, a crash) fails that run with a one-line
reason; a fresh worker takes the next one.
"""

import multiprocessing as mp
import os
import signal
import sys
from multiprocessing.connection import Connection, wait
from typing import Any

from grokscope.sweeps.jobs import Outcome, RunJob

_READY = "ready"


class WorkerStartError(RuntimeError):
    """A worker process died before it could take a job: no run can train, so the sweep stops."""


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, os.getpid()), daemon=True, name="grokscope-sweep-worker"
        )
        self.process.start()
        child.close()
        self.job: RunJob | None = None
        self.ready = False  # set by the worker's first message, once its imports are done


class LocalBackend:
    """``workers`` processes, each training one run at a time with ``threads`` CPU threads."""

    name = "local"

    def __init__(self, *, workers: int | None, threads: int, device: str) -> None:
        from grokscope.sweeps.backends.capacity import default_workers

        self.capacity = workers if workers is not None else default_workers(threads, device)
        self.threads, self.device = threads, device
        self._ctx = mp.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: list[_Worker] = []

    def submit(self, job: RunJob) -> None:
        worker = self._idle.pop() if self._idle else _Worker(self._ctx)
        worker.job = job
        worker.conn.send(job)
        self._busy.append(worker)

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._busy:
            return []
        ready = set(wait([w.conn for w in self._busy] + [w.process.sentinel for w in self._busy], timeout))
        ended = []
        for w in list(self._busy):
            if w.conn not in ready and w.process.sentinel not in ready:
                continue
            assert w.job is not None
            try:
                message = w.conn.recv()
            except (EOFError, OSError):  # the worker died
                self._busy.remove(w)
                w.process.join(5)
                w.conn.close()
                if not w.ready:  # before its imports were done: every worker would, so stop here
                    raise WorkerStartError(
                        f"a sweep worker process could not start "
                        f"({_exit_reason(w.process.exitcode)}; its error is above): check that "
                        f"grokscope imports in {sys.executable}"
                    ) from None
                ended.append(
                    Outcome(w.job.name, False, f"the worker process died ({_exit_reason(w.process.exitcode)})")
                )
                continue
            if message == _READY:
                w.ready = True
                continue
            self._busy.remove(w)
            ended.append(message)
            w.job = None
            self._idle.append(w)
        return ended

    def close(self) -> None:
        """Stop every worker; runs in flight stop where they are (their last checkpoint stays)."""
        for w in self._idle:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._busy:
            w.process.terminate()
        for w in self._idle + self._busy:
            w.process.join(10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self._idle, self._busy = [], []


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _worker_main(conn: Connection, parent: int) -> None:
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the sweep process decides what stops, not each worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from grokscope.sweeps.jobs import train_job

    conn.send(_READY)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(train_job(job))


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when the sweep process dies (Linux); elsewhere a worker
    notices at its next job, when the pipe is closed."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


__all__ = ["LocalBackend", "WorkerStartError"]
