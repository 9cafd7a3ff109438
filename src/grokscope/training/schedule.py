"""When to checkpoint: dense where the model changes fastest, then regular (Pythia-style)."""

from functools import lru_cache


@lru_cache(maxsize=8)
def dense_steps(every: int) -> frozenset[int]:
    """``0, 1, 2, 3, 4, 6, 8, 12, 16, 24, ...`` below ``every``: powers of two and 1.5x them."""
    steps, k = {0}, 1
    while k < every:
        steps.update(s for s in (k, k + k // 2) if s < every)
        k *= 2
    return frozenset(steps)


def is_checkpoint_step(step: int, every: int) -> bool:
    return step % every == 0 or step in dense_steps(every)
