"""Which operations the Fourier analysis (and so the ablations) can read: those with a cyclic group.

Kept apart from the analysis itself, with no torch import, so a cached analysis can be checked and
served without loading the model code.
"""

CYCLIC_OPS = ("add", "sub", "mul", "div")  # mul and div in the discrete-log basis (see ModelView)


def check_cyclic(op: str, task_name: str) -> None:
    """Refuse, in one line that says which operations are analysed and what to do, an ``op`` without
    the cyclic group structure the Fourier analysis (and so the ablations) reads."""
    if op not in CYCLIC_OPS:
        raise ValueError(
            f"{task_name} has no cyclic group structure for the Fourier analysis (op {op!r}): analyze fourier "
            "and ablate read add and sub runs (any p) and mul and div runs (p prime, in the discrete-log "
            "basis); train one of those to analyse it, e.g. grokscope train --task mod97-mul"
        )
