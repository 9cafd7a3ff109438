"""How many runs a backend trains at once by default (its own module: every backend reads it)."""

import os


def default_workers(threads: int, device: str) -> int:
    """Local workers by default: one per ``threads`` CPU cores (at least one); one for a GPU."""
    if device.startswith("cuda"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(threads, 1))


__all__ = ["default_workers"]
