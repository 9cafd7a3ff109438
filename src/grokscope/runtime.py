"""Process-wide CPU speed settings, entered on purpose and undone on exit.

Two settings of the whole process make the CPU paths faster, and both would leak into a
notebook user's other work if set and left:

- **Flushing denormal floats to zero.** A grokked model's losses (~1e-8) and their gradients make
  denormal float32 products, which x86 computes 10-100x slower: late in training a step takes
  twice as long. :func:`flush_denormals` turns flushing on for the calling thread and puts back
  what it found; the trainer and the progress measures enter it around their own work.
- **Keeping freed memory in the process.** glibc serves blocks above its mmap threshold (128 KiB
  to 32 MiB, adaptive) with fresh pages and unmaps them on free, so every training step or
  checkpoint pass that allocates multi-MB temporaries faults its pages in again (~18% of a fused
  step on a small CPU). :func:`keep_freed_memory` raises both thresholds; on leaving it sets them
  back to glibc's defaults and trims the heap, so big blocks are mapped and unmapped as before.
  (glibc cannot be asked for its adaptive threshold's current value, nor to re-enable the
  adaptation once set: after the context, the threshold is the fixed default.)

:func:`speed_settings` is what the command line enters for a whole command; in a notebook,
``with gs.speed_settings(): ...`` gives a block the same speed.

Denormal flushing is a property of each thread, and a new thread starts with its creator's. The
compute functions flush in the thread that calls them, as they always have; the worker threads
of torch's and numba's pools keep the setting they were created with. ``speed_settings`` leaves
that alone on purpose: flushing before the pools exist (so in every worker too) makes late
grokking steps several times faster but changes a run's trajectory from the step where
denormals first appear, so it is a decision for its own change, not a side effect of a scope.
"""

import ctypes
import ctypes.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
_GLIBC_DEFAULT_THRESHOLD = 128 * 1024  # DEFAULT_MMAP_THRESHOLD_MIN and DEFAULT_TRIM_THRESHOLD
_keep_depth = 0  # nested keep_freed_memory() blocks: only the outermost one sets and restores


def denormals_flushed() -> bool:
    """Whether this thread's float unit flushes denormals to zero now (read from its behaviour)."""
    import torch

    return (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Flush denormals to zero (or not) inside the block; yields whether the setting is in force."""
    import torch

    before = denormals_flushed()
    in_force = before == enabled or (torch.set_flush_denormal(enabled) and denormals_flushed() == enabled)
    try:
        yield in_force
    finally:
        if denormals_flushed() != before:
            torch.set_flush_denormal(before)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has no mallopt)
        return libc
    except (OSError, AttributeError):
        return None


@contextmanager
def keep_freed_memory() -> Iterator[bool]:
    """Keep freed blocks for reuse inside the block (glibc); yields whether that took effect."""
    global _keep_depth
    libc = _libc()
    if libc is None:
        yield False
        return
    outer = _keep_depth == 0
    ok = True
    if outer:
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    _keep_depth += 1
    try:
        yield ok
    finally:
        _keep_depth -= 1
        if outer:
            libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT_THRESHOLD)
            libc.malloc_trim(0)


@contextmanager
def speed_settings() -> Iterator[None]:
    """Keep freed memory for the block (denormals are flushed by the compute functions themselves);
    everything is as it was after it."""
    with keep_freed_memory():
        yield


__all__ = ["denormals_flushed", "flush_denormals", "keep_freed_memory", "speed_settings"]
