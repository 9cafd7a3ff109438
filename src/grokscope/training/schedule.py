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


def cosine_lr(step: int, *, lr: float, min_lr: float, warmup: int, decay_steps: int) -> float:
    """nanoGPT's ``get_lr``: linear warm-up to ``lr`` (``lr * (step + 1) / (warmup + 1)``), cosine
    decay to ``min_lr`` at ``decay_steps``, then ``min_lr``."""
    import math

    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > decay_steps:
        return min_lr
    ratio = (step - warmup) / max(decay_steps - warmup, 1)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
