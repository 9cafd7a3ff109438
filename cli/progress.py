"""A progress bar over checkpoints, shared by the analysis commands (tqdm loads on first update)."""

import sys
from typing import Any


class CheckpointBar:
    """Called as ``bar(done, total)``; draws on stderr so ``--json`` output stays clean."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.bar: Any = None  # a tqdm bar, made on the first call

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=f"{self.name}: checkpoints",
                unit="ckpt",
                file=sys.stderr,
                dynamic_ncols=True,
                leave=False,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
