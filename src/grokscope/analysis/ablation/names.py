"""The names of the circuit ablations' options, without torch (the CLI checks them instantly).

Definitions: :mod:`grokscope.analysis.ablation.circuits`.
"""

from typing import Literal, get_args

Circuit = Literal["generalize", "memorize"]
"""An ablation, named after the circuit it removes: ``generalize`` removes the generalizing circuit."""
Site = Literal["logits", "neurons"]
Method = Literal["zero", "mean", "resample"]
CIRCUITS: tuple[str, ...] = get_args(Circuit)
SITES: tuple[str, ...] = get_args(Site)
METHODS: tuple[str, ...] = get_args(Method)
CIRCUIT_NAMES = {"generalize": "generalizing", "memorize": "memorizing"}  # ablation -> the circuit it removes


def check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a ``ValueError`` naming the choices."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


__all__ = ["CIRCUITS", "CIRCUIT_NAMES", "METHODS", "SITES", "Circuit", "Method", "Site", "check_choice"]
