"""Circuit and component ablations of the 1-layer modular-addition model.

**The two circuits** (Nanda et al. 2023, "Progress measures for grokking via mechanistic
interpretability": the restricted and excluded losses).
Let ``K`` be the key frequencies of the final checkpoint (:func:`~grokscope.analysis.analyze_fourier`)
and ``U_K`` the ``2|K|`` unit vectors ``cos(w_k (a+b))``, ``sin(w_k (a+b))`` over the a-major grid
of all ``p^2`` pairs (:func:`~grokscope.analysis.fourier.basis.sum_directions`). Take an activation ``X``
at the final position on every pair, shape ``(p^2, d)``, and project along the pair axis, one
column at a time (``P_K X = U_K^T U_K X``, ``mean(X)`` the mean over the ``p^2`` pairs):

* the **generalizing circuit** is ``P_K X``, its key-frequency part;
* the **memorizing circuit** is the rest, ``X - mean(X) - P_K X``. The constant ``mean(X)`` belongs
  to neither and is always kept.

The ablation named after a circuit removes that circuit: ``generalize`` keeps ``X - P_K X`` (the
paper's "excluded" logits), ``memorize`` keeps ``mean(X) + P_K X`` (its "restricted" logits).

Where ``X`` is taken (the ``site``):

* ``"logits"`` (default): the logits, hook point ``unembed.hook_out`` (:func:`hooks.logits`), final
  position. That is everything the model writes (the MLP neurons and the attention/embedding path
  around them). Projecting the neurons at ``blocks.0.mlp.hook_post`` as well would change nothing:
  the projection acts on the pair axis, so it commutes with the per-pair linear maps ``W_out`` and
  ``W_U``, and the sum directions have zero mean (so biases are untouched).
* ``"neurons"``: the MLP neuron activations, hook point ``blocks.0.mlp.hook_post``
  (:func:`hooks.mlp_post`), final position, each neuron separately; the attention/embedding path
  to the logits is left whole. Equivalently (same linearity) the MLP's contribution
  ``mlp_post @ W_out @ W_U`` to the logits, which is how the vectorized path computes it.

How the removed part ``R`` is replaced (``method``): ``zero`` keeps ``X - R``; ``mean`` replaces
``R`` by its mean over the batch; ``resample`` by ``R`` of another example, ``R[perm]`` with a
seeded permutation of the batch (:func:`resample_permutation`). For the circuits ``R`` has zero
mean over the grid (it is orthogonal to the constant), so ``mean`` equals ``zero`` up to rounding.

**Component ablations** (:class:`HeadAblation`, :class:`NeuronAblation`,
:class:`DirectionAblation`, :class:`CircuitAblation`, which with one frequency is the single-frequency
ablation) run through TransformerLens hooks inside :func:`ablated`, a context manager over
``model.hooks()``: the hooks are removed when the block exits, also on an exception, and no
weight is ever touched. Every grid ablation needs the batch to be all ``p^2`` pairs, a-major
(``task.dataset().tokens()``).

>>> with ablated(model, CircuitAblation(circuit="generalize", key_freqs=(14, 35), p=113)):  # doctest: +SKIP
...     logits = model(tokens)[:, -1]
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.analysis.ablation.names import (
    CIRCUIT_NAMES,
    CIRCUITS,
    METHODS,
    SITES,
    Circuit,
    Method,
    Site,
    check_choice,
)
from grokscope.analysis.fourier.basis import NeuronFrequencies, check_modulus, sum_directions
from grokscope.analysis.fourier.progress_measures import accuracy, cross_entropy, project, restricted_logits
from grokscope.models import hooks

if TYPE_CHECKING:
    from grokscope.tasks.modular_data import ModularData


def resample_permutation(n: int, seed: int = 0) -> Int[Tensor, " n"]:
    """The batch permutation of resample ablation: example ``i`` gets the activation of ``perm[i]``."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def removed_part(
    x: Float[Tensor, "*batch pp d"], dirs: Float[Tensor, "n_dirs pp"], circuit: str
) -> Float[Tensor, "*batch pp d"]:
    """The part of ``x`` (an activation over the a-major grid) that the ``circuit`` ablation removes.

    ``generalize``: ``P x`` onto the span of ``dirs`` (unit, zero-mean rows); ``memorize``:
    ``x - mean(x) - P x``, everything but the constant and that span.
    """
    check_choice(circuit, CIRCUITS, "circuit")
    dirs = dirs.to(x.dtype)
    if circuit == "generalize":
        return project(x, dirs)
    return x - restricted_logits(x, dirs)


def replace_part(
    x: Float[Tensor, "*batch n d"],
    removed: Float[Tensor, "*batch n d"],
    method: str,
    perm: Int[Tensor, " n"] | None = None,
) -> Float[Tensor, "*batch n d"]:
    """``x`` with ``removed`` taken out and replaced as ``method`` says (batch axis ``-2``)."""
    check_choice(method, METHODS, "ablation method")
    if method == "zero":
        return x - removed
    if method == "mean":
        return x - removed + removed.mean(dim=-2, keepdim=True)
    if perm is None or len(perm) != x.shape[-2]:
        raise ValueError(f"resample ablation needs a permutation of the {x.shape[-2]} examples")
    return x - removed + removed.index_select(-2, perm.to(x.device))


# ---------------------------------------------------------------------------------------------
# Ablations as hook specifications. Each names its hook point and says which part of the
# activation there it removes; `ablated` turns them into TransformerLens hooks.


@dataclass(frozen=True, kw_only=True)
class CircuitAblation:
    """Remove a circuit (module docstring) at ``site`` over the full grid. With one key frequency
    and ``circuit="generalize"`` this is the single-frequency ablation (:func:`frequency_ablation`).

    ``op`` picks the sum directions: ``a + b`` (``"add"``) or ``a - b`` (``"sub"``).
    """

    circuit: Circuit
    key_freqs: tuple[int, ...]
    p: int
    site: Site = "logits"
    method: Method = "zero"
    op: str = "add"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.circuit, CIRCUITS, "circuit")
        check_choice(self.site, SITES, "site")
        check_choice(self.method, METHODS, "ablation method")
        check_modulus(self.p)
        bad = [k for k in self.key_freqs if not 1 <= k <= self.p // 2]
        if bad or not self.key_freqs:
            raise ValueError(
                f"key frequencies must be a non-empty subset of 1..{self.p // 2}, got {list(self.key_freqs)}"
            )

    @property
    def hook_name(self) -> hooks.HookName:
        return hooks.logits() if self.site == "logits" else hooks.mlp_post(0)

    def directions(self, dtype: torch.dtype = torch.float32) -> Float[Tensor, "n_dirs pp"]:
        return sum_directions(self.p, list(self.key_freqs), op=self.op, dtype=dtype)

    def removed(self, x: Tensor) -> Tensor:
        if x.shape[0] != self.p * self.p:
            raise ValueError(
                f"a circuit ablation runs on all {self.p}^2 = {self.p * self.p} pairs (a-major), "
                f"got a batch of {x.shape[0]}"
            )
        out = torch.zeros_like(x)
        out[:, -1] = removed_part(x[:, -1], self.directions(x.dtype).to(x.device), self.circuit)
        return out


def frequency_ablation(
    k: int, p: int, *, site: Site = "logits", method: Method = "zero", op: str = "add", seed: int = 0
) -> CircuitAblation:
    """Remove one frequency's sum directions ``cos/sin(w_k (a+b))`` at ``site``."""
    return CircuitAblation(circuit="generalize", key_freqs=(k,), p=p, site=site, method=method, op=op, seed=seed)


@dataclass(frozen=True, kw_only=True)
class HeadAblation:
    """Remove attention heads: their ``z`` (hook ``blocks.L.attn.hook_z``), at every position."""

    heads: tuple[int, ...]
    layer: int = 0
    method: Method = "zero"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.method, METHODS, "ablation method")

    @property
    def hook_name(self) -> hooks.HookName:
        return hooks.attn_z(self.layer)

    def removed(self, x: Tensor) -> Tensor:
        mask = torch.zeros(x.shape[2], dtype=x.dtype, device=x.device)
        mask[list(self.heads)] = 1
        return x * mask[:, None]


@dataclass(frozen=True, kw_only=True)
class NeuronAblation:
    """Remove MLP neurons (hook ``blocks.L.mlp.hook_post``), at every position.

    :func:`neurons_by_frequency` groups neurons by their dominant frequency.
    """

    neurons: tuple[int, ...]
    layer: int = 0
    method: Method = "zero"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.method, METHODS, "ablation method")

    @property
    def hook_name(self) -> hooks.HookName:
        return hooks.mlp_post(self.layer)

    def removed(self, x: Tensor) -> Tensor:
        mask = torch.zeros(x.shape[-1], dtype=x.dtype, device=x.device)
        mask[list(self.neurons)] = 1
        return x * mask


@dataclass(frozen=True, kw_only=True, eq=False)
class DirectionAblation:
    """Remove the span of ``directions`` (rows, ``(n, d_model)``; orthonormalized here) from the
    token embeddings (hook ``hook_embed``), at every position. :func:`embedding_frequency_directions`
    gives the directions in which ``W_E`` encodes a frequency.
    """

    directions: Float[Tensor, "n d_model"]
    method: Method = "zero"
    seed: int = 0
    _basis: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_choice(self.method, METHODS, "ablation method")
        if self.directions.ndim != 2 or len(self.directions) == 0:
            raise ValueError("directions are rows of a (n, d_model) matrix, n >= 1")
        q, r = torch.linalg.qr(self.directions.double().T)  # (d, n): orthonormal columns
        rank = int((r.diagonal().abs() > 1e-10 * r.diagonal().abs().max()).sum())
        object.__setattr__(self, "_basis", q[:, :rank].T.contiguous())

    @property
    def hook_name(self) -> hooks.HookName:
        return hooks.embed()

    def removed(self, x: Tensor) -> Tensor:
        Q = self._basis.to(x.dtype).to(x.device)  # (n, d)
        return (x @ Q.T) @ Q


Ablation = CircuitAblation | HeadAblation | NeuronAblation | DirectionAblation


def _hook_fn(ablation: Ablation):
    method, seed = ablation.method, ablation.seed

    def hook(x: Tensor, hook: Any) -> Tensor:
        r = ablation.removed(x)
        perm = resample_permutation(x.shape[0], seed) if method == "resample" else None
        # Batch axis first: move it next to last for replace_part, whose batch axis is -2.
        return replace_part(x.movedim(0, -2), r.movedim(0, -2), method, perm).movedim(-2, 0)

    return hook


@contextmanager
def ablated(model: Any, *ablations: Ablation) -> Iterator[Any]:
    """Run ``model`` (a ``HookedTransformer``) with ``ablations`` applied, in order, inside the block.

    The hooks live in a ``model.hooks()`` context: they are removed on exit, also when the block
    raises. Weights are never modified. With no ablations the model runs exactly as without hooks.
    """
    names = getattr(model, "hook_dict", {})
    for a in ablations:
        if a.hook_name not in names:
            raise ValueError(f"{type(a).__name__}: the model has no hook point {a.hook_name!r}")
    with model.hooks(fwd_hooks=[(a.hook_name, _hook_fn(a)) for a in ablations]):
        yield model


def hooked_logits(model: Any, data: "ModularData", *ablations: Ablation) -> Float[Tensor, "n d_vocab_out"]:
    """Final-position logits of ``model`` on every pair of ``data`` with ``ablations`` (the per-model reference)."""
    with torch.no_grad(), ablated(model, *ablations):
        return model(data.tokens())[:, -1]


def hooked_metrics(model: Any, data: "ModularData", *ablations: Ablation) -> dict[str, float]:
    """Train/test loss and accuracy of ``model`` with ``ablations``, one model at a time through hooks."""
    L = hooked_logits(model, data, *ablations)
    out = {}
    for split, idx in (("train", data.train_idx), ("test", data.test_idx)):
        out[f"{split}_loss"] = float(cross_entropy(L[idx], data.labels[idx]))
        out[f"{split}_acc"] = float(accuracy(L[idx], data.labels[idx]))
    return out


# ---------------------------------------------------------------------------------------------
# Helpers that name components.


def neurons_by_frequency(nf: NeuronFrequencies, *, min_fve: float = 0.6) -> dict[int, tuple[int, ...]]:
    """Neurons grouped by dominant frequency (largest FVE, at least ``min_fve``); dead neurons left out.

    ``nf`` is one model's :class:`~grokscope.analysis.fourier.basis.NeuronFrequencies` (no batch axis);
    :attr:`FourierAnalysis.final` holds the final checkpoint's as numpy arrays.
    """
    fve, variance = torch.as_tensor(nf.fve), torch.as_tensor(nf.variance)
    if fve.ndim != 2:
        raise ValueError("neurons_by_frequency takes one model's neuron frequencies")
    best, idx = fve.max(dim=-1)
    live = variance > 1e-6 * variance.max().clamp_min(1e-30)
    groups: dict[int, list[int]] = {}
    for n in torch.nonzero(live & (best >= min_fve)).flatten().tolist():
        groups.setdefault(int(idx[n]) + 1, []).append(n)
    return {k: tuple(v) for k, v in sorted(groups.items())}


def embedding_frequency_directions(
    W_E: Float[Tensor, "d_vocab d_model"], p: int, freqs: Sequence[int]
) -> Float[Tensor, "n_dirs d_model"]:
    """The ``cos k`` and ``sin k`` Fourier coefficients of the residue embeddings ``W_E[:p]``, rows in ``d_model``."""
    from grokscope.analysis.fourier.basis import fourier_1d, fourier_basis

    coefs = fourier_1d(W_E[:p].double(), fourier_basis(p))  # (p components, d_model)
    rows = [2 * k - 1 + t for k in freqs for t in (0, 1)]
    return coefs[rows].to(W_E.dtype)


__all__ = [
    "CIRCUITS",
    "CIRCUIT_NAMES",
    "METHODS",
    "SITES",
    "Ablation",
    "Circuit",
    "CircuitAblation",
    "DirectionAblation",
    "HeadAblation",
    "Method",
    "NeuronAblation",
    "Site",
    "ablated",
    "check_choice",
    "embedding_frequency_directions",
    "frequency_ablation",
    "hooked_logits",
    "hooked_metrics",
    "neurons_by_frequency",
    "removed_part",
    "replace_part",
    "resample_permutation",
]
