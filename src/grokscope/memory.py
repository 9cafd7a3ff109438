"""Keep freed memory in the process so big temporaries stop paying page faults.

glibc serves allocations above its mmap threshold (128 KB to 32 MB, adaptive) with fresh
``mmap`` pages and unmaps them on free, so a training step or an analysis pass that allocates
multi-MB tensors faults every page in again on each call. On this 2-core VM that was ~18% of a
fused training step and most of the time of several elementwise passes in the Fourier analysis.
Raising both the mmap and the trim thresholds keeps such blocks on the heap for reuse; the cost
is that the peak resident memory is not handed back to the OS until the process ends.
"""

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
_done = False


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse; a no-op (False) where that is not glibc. Idempotent."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _done = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        _done = False
    return _done
