"""A progress bar over a sweep's runs: a callback for :func:`~grokscope.sweeps.engine.run_sweep`.

Like :class:`~grokscope.training.callbacks.ProgressBar`, the caller passes it (the command line
does; ``gs.sweep`` does unless ``progress=False``): the library itself never prints.
"""

import sys
from typing import Any


class SweepBar:
    """One bar over runs: the finished ones plus the fraction done of those running, with the ETA from
    the rate of this start (runs done before it do not count), and a line for each failed run."""

    def __init__(self, desc: str = "sweep") -> None:
        self.desc = desc
        self.bar: Any = None  # a tqdm bar, made on the first call

    def __call__(self, progress: Any) -> None:
        from tqdm.auto import tqdm

        record = progress.record
        counts = record.counts()
        if self.bar is None:
            self.bar = tqdm(
                total=len(record.runs),
                initial=progress.resumed,
                unit="run",
                file=sys.stderr,
                desc=self.desc,
                dynamic_ncols=True,
                smoothing=0,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} runs [{elapsed}<{remaining}{postfix}]",
            )
        for note in progress.notes:
            self.bar.write(f"warning: {note}", file=sys.stderr)
        n = counts["done"] + counts["failed"] + sum(progress.running.values())
        self.bar.n = min(n, self.bar.total)
        self.bar.set_postfix_str(
            f"done {counts['done']}, running {len(progress.running)}, failed {counts['failed']}", refresh=False
        )
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SweepLog:
    """Progress as plain lines (for logs and ``nohup``): one when a run ends, and every ``every_s``
    seconds how far the running ones are; each failed run's reason on stderr."""

    def __init__(self, prefix: str = "", every_s: float = 300.0) -> None:
        self.prefix, self.every_s, self.last = prefix, every_s, 0.0
        self.seen: tuple[int, int] | None = None

    def __call__(self, progress: Any) -> None:
        for note in progress.notes:
            print(f"{self.prefix}warning: {note}", file=sys.stderr, flush=True)
        counts = progress.record.counts()
        key = (counts["done"], counts["failed"])
        if key != self.seen or progress.elapsed_s - self.last >= self.every_s:
            self.seen, self.last = key, progress.elapsed_s
            running = ", ".join(f"{n} {100 * f:.0f}%" for n, f in progress.running.items())
            print(
                f"{self.prefix}{counts['done']}/{len(progress.record.runs)} done, {counts['failed']} failed"
                f"{', running ' + running if running else ''} ({progress.elapsed_s / 60:.1f} min)",
                flush=True,
            )


__all__ = ["SweepBar", "SweepLog"]
