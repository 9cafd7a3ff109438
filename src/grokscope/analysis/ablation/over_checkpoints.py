"""Circuit ablations at every checkpoint, vectorized over a checkpoint stack, and per-frequency importance.

The circuits, sites and methods are defined in :mod:`grokscope.analysis.ablation.circuits`. Here the model
runs on all ``p^2`` pairs for a chunk of checkpoints at once (:func:`~grokscope.models.grok1l.grid.grid_cache`,
the same pass as the Fourier analysis), and each ablation is applied to the logits in closed form:

* site ``logits``: ``L' = L - R(L) + M(R(L))``;
* site ``neurons``: ``L' = L - R(N) + M(R(N))`` with ``N = mlp_post @ W_out @ W_U`` the neurons'
  contribution to the logits. This equals ablating ``blocks.0.mlp.hook_post`` and running the rest
  of the model, because the projection ``R`` along the pair axis commutes with per-pair linear maps.

``R`` is :func:`~grokscope.analysis.ablation.circuits.removed_part`, ``M`` the method
(:func:`~grokscope.analysis.ablation.circuits.replace_part`). Tested against the hook path
(:func:`~grokscope.analysis.ablation.circuits.hooked_metrics`, one ``HookedTransformer`` per checkpoint).

**Share of performance.** For the circuit ``c``, its share at a checkpoint is how much of the
model's performance on the training pairs it keeps *alone*, i.e. with the other circuit removed
(the generalizing circuit alone is the ``memorize`` ablation, and vice versa):

* ``share_<c>`` (accuracy): ``(acc_alone - 1/p) / (acc - 1/p)`` on the training pairs;
* ``share_loss_<c>``: ``(ln p - loss_alone)^+ / (ln p - loss)``, performance measured as the
  cross-entropy gained over uniform guessing (a circuit worse than uniform keeps 0).

Both are clipped below at 0 (not above: a circuit alone can beat the whole model) and are NaN
while the model itself is near chance (accuracy gain < 0.05, or loss gain < 5% of ``ln p``).
"""

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.analysis.ablation.circuits import removed_part, replace_part, resample_permutation
from grokscope.analysis.ablation.names import CIRCUIT_NAMES, CIRCUITS, METHODS, SITES, check_choice
from grokscope.analysis.fourier.basis import logit_map, sum_directions
from grokscope.analysis.fourier.phases import Phase
from grokscope.analysis.fourier.progress_measures import accuracy, check_vocabulary, cross_entropy
from grokscope.models.grok1l.grid import grid_cache
from grokscope.models.grok1l.params import Grok1LParams, as_params
from grokscope.numerics.workspace import Workspace

if TYPE_CHECKING:
    from grokscope.analysis.fourier.pipeline import FourierAnalysis
    from grokscope.analysis.model_view import GridForward, ModelView
    from grokscope.store.run import Run
    from grokscope.tasks.modular_data import ModularData

METRICS = ("train_loss", "test_loss", "train_acc", "test_acc")
SHARE_FLOOR = {"acc": 0.05, "loss": 0.05}  # below these gains over chance the share is undefined (NaN)


@dataclass(frozen=True, eq=False)
class FrequencyImportance:
    """Each key frequency removed alone (its ``cos/sin(w_k (a+b))`` directions at ``site``) at one checkpoint.

    ``table`` (index ``freq``): ``loss`` over all ``p^2`` pairs (as in the paper), ``loss_increase``
    over the unablated model's ``loss`` (in ``base``), and train/test loss and accuracy.
    """

    step: int
    site: str
    method: str
    base: dict[str, float]
    table: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "site": self.site,
            "method": self.method,
            "base": self.base,
            "frequencies": [
                {"freq": int(k), **{c: float(v) for c, v in row.items()}} for k, row in self.table.iterrows()
            ],
        }


@dataclass(frozen=True, eq=False)
class CircuitAblations:
    """Both circuit ablations at every analysed checkpoint of a run (see module docstrings).

    ``table`` (index ``step``): ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc`` of the
    model as it is; the same with the prefix ``generalize_`` (generalizing circuit removed) and
    ``memorize_`` (memorizing circuit removed); ``share_generalizing``, ``share_memorizing`` and
    their loss-based twins ``share_loss_*``. ``phases`` are the Fourier analysis' phases.
    """

    run: str
    path: str
    task: str
    p: int
    op: str
    key_frequencies: list[int]
    site: str
    method: str
    seed: int
    table: pd.DataFrame
    phases: tuple[Phase, ...]
    importance: FrequencyImportance
    elapsed_s: float = 0.0

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.table.index]

    def crossings(self) -> dict[str, int | None]:
        """Steps where the shares cross 50% (:func:`share_crossings`), accuracy- and loss-based."""
        return share_crossings(self.table)

    def milestones(self) -> dict[str, int]:
        """Representative steps, by label: the end of memorization, the middle of circuit formation,
        the end of cleanup and the last checkpoint (each the nearest analysed step; duplicates dropped)."""
        steps = np.asarray(self.steps)
        if len(steps) == 1 or len(self.phases) != 3:
            return {"step": int(steps[-1])}
        mem, circ, clean = self.phases
        wanted = {
            "end of memorization": mem.end,
            "middle of circuit formation": (circ.start + circ.end) / 2,
            "end of cleanup": clean.end,
            "last checkpoint": steps[-1],
        }
        out: dict[str, int] = {}
        for label, s in wanted.items():
            step = int(steps[np.argmin(np.abs(steps - s))])
            if step not in out.values():
                out[label] = step
        return out

    def definition(self, circuit: str) -> str:
        """One line: what the ``circuit`` ablation removes, and where."""
        ks = ", ".join(map(str, self.key_frequencies))
        where = (
            "the logits (unembed.hook_out)"
            if self.site == "logits"
            else "the MLP neuron activations (blocks.0.mlp.hook_post)"
        )
        what = (
            f"removes the projection onto cos/sin(w_k(a{'+' if self.op == 'add' else '-'}b)), k in {{{ks}}}"
            if circuit == "generalize"
            else f"keeps only the mean and the projection onto cos/sin(w_k(a{'+' if self.op == 'add' else '-'}b)), "
            f"k in {{{ks}}}"
        )
        return f"{circuit}: {what}, of {where} at the final position over all {self.p}^2 pairs; method {self.method}"

    def summary(self, circuit: str) -> dict[str, Any]:
        """A JSON-ready summary of the ``circuit`` ablation (``generalize`` or ``memorize``)."""
        check_choice(circuit, CIRCUITS, "circuit")
        rows = []
        for step, r in self.table.iterrows():
            rows.append(
                {
                    "step": int(step),
                    "full": {m: _num(r[m]) for m in METRICS},
                    "ablated": {m: _num(r[f"{circuit}_{m}"]) for m in METRICS},
                    "share_generalizing": _num(r["share_generalizing"]),
                    "share_memorizing": _num(r["share_memorizing"]),
                }
            )
        return {
            "run": self.run,
            "path": self.path,
            "task": self.task,
            "p": self.p,
            "circuit": circuit,
            "removes": f"the {CIRCUIT_NAMES[circuit]} circuit",
            "site": self.site,
            "method": self.method,
            "seed": self.seed,
            "key_frequencies": list(self.key_frequencies),
            "definition": self.definition(circuit),
            "phases": [ph.to_dict() for ph in self.phases],
            "crossings": self.crossings(),
            "milestones": self.milestones(),
            "checkpoints": rows,
            "frequency_importance": self.importance.to_dict(),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def share_crossings(table: pd.DataFrame) -> dict[str, int | None]:
    """First steps where each share crosses 50%.

    ``generalizing_up``: first step with ``share_generalizing >= 0.5``; ``generalizing_stays``:
    first step from which it stays there to the end; ``memorizing_up``: first step with
    ``share_memorizing >= 0.5``; ``memorizing_down``: first step after that with it below 0.5.
    ``loss_*``: the same for the loss-based shares.
    """
    steps = table.index.to_numpy(dtype=np.int64)
    out: dict[str, int | None] = {}
    for prefix, col in (("", "share_"), ("loss_", "share_loss_")):
        gen = table[f"{col}generalizing"].to_numpy()
        mem = table[f"{col}memorizing"].to_numpy()
        up = np.flatnonzero(gen >= 0.5)
        out[f"{prefix}generalizing_up"] = int(steps[up[0]]) if len(up) else None
        below = np.flatnonzero(~(gen >= 0.5))  # NaN counts as below
        stays = below[-1] + 1 if len(below) else 0
        out[f"{prefix}generalizing_stays"] = int(steps[stays]) if stays < len(steps) else None
        m_up = np.flatnonzero(mem >= 0.5)
        out[f"{prefix}memorizing_up"] = int(steps[m_up[0]]) if len(m_up) else None
        down = np.flatnonzero(mem[m_up[0] :] < 0.5) + m_up[0] if len(m_up) else np.array([], dtype=np.int64)
        out[f"{prefix}memorizing_down"] = int(steps[down[0]]) if len(down) else None
    return out


def _metrics(L: Float[Tensor, "c pp o"], data: "ModularData", prefix: str) -> dict[str, Tensor]:
    out = {}
    for split, idx in (("train", data.train_idx), ("test", data.test_idx)):
        Ls, ys = L[:, idx], data.labels[idx]
        out[f"{prefix}{split}_loss"] = cross_entropy(Ls, ys)
        out[f"{prefix}{split}_acc"] = accuracy(Ls, ys)
    return out


def _evaluate_chunk(
    w: Grok1LParams,
    p: int,
    data: "ModularData",
    variants: Sequence[tuple[str, Tensor, str]],
    site: str,
    method: str,
    perm: Int[Tensor, " pp"],
    workspace: Workspace,
    forward: "GridForward",
) -> dict[str, Tensor]:
    """Metrics of the plain model and of each ``(name, directions, circuit)`` ablation, per checkpoint."""
    mlp_post, logits = forward(w, p, workspace)
    c = logits.shape[0]
    L = logits.reshape(c, p * p, -1)
    if site == "logits":
        X = L
    else:  # the neurons' contribution to the logits (no bias: constant over pairs)
        X = mlp_post.reshape(c, p * p, -1) @ logit_map(w.W_out, w.W_U)
    out = _metrics(L, data, "")
    for name, dirs, circuit in variants:
        out |= _metrics(replace_part(L, removed_part(X, dirs, circuit), method, perm), data, f"{name}_")
    return out


def _grid(w: Grok1LParams, p: int, workspace: Workspace | None) -> tuple[Tensor, Tensor]:
    cache = grid_cache(w, p, workspace=workspace)
    return cache.mlp_post, cache.logits


def _forward(view: "ModelView | None") -> dict[str, Any]:
    """The forward and input format of ``view`` (default: the grid forward on ``[a, b, =]``)."""
    if view is None or view.path == "grid":
        return {"forward": _grid, "eq_token": view is None or view.input_format == "a_b_eq"}
    return {"forward": view.forward(), "eq_token": view.input_format == "a_b_eq"}


def _chunk_size(p: int, d_mlp: int, budget_bytes: float) -> int:
    # grid_cache holds a few float32 (p^2, d_mlp) tensors per checkpoint; one checkpoint at a time
    # is fastest on CPU for p = 97 (big temporaries cost page faults), small p batch many.
    per_ckpt = p * p * (6 * 4 * d_mlp + 8 * 4 * p)
    return max(1, int(budget_bytes // per_ckpt))


def _run_variants(
    steps: Sequence[int],
    w: Grok1LParams,
    p: int,
    data: "ModularData",
    variants: Sequence[tuple[str, Tensor, str]],
    *,
    site: str,
    method: str,
    seed: int,
    memory_budget: float,
    progress: Callable[[int, int], None] | None,
    forward: "GridForward | None" = None,
    eq_token: bool = True,
) -> pd.DataFrame:
    check_choice(site, SITES, "site")
    check_choice(method, METHODS, "ablation method")
    check_vocabulary(w, p, eq_token=eq_token)
    forward = forward or _grid
    if len(data.labels) != p * p:
        raise ValueError("circuit ablations need all p^2 pairs (a-major)")
    n = len(steps)
    if n == 0:
        raise ValueError("no checkpoints to ablate")
    perm = resample_permutation(p * p, seed)
    chunk = _chunk_size(p, w.d_mlp, memory_budget)
    rows: list[dict[str, Tensor]] = []
    workspace = Workspace()
    with torch.inference_mode():
        for start in range(0, n, chunk):
            sub = w.map(lambda x: x[start : start + chunk])  # noqa: B023 - used at once
            rows.append(_evaluate_chunk(sub, p, data, variants, site, method, perm, workspace, forward))
            if progress is not None:
                progress(min(start + chunk, n), n)
    cols = {k: torch.cat([r[k] for r in rows]).numpy() for k in rows[0]}
    return pd.DataFrame(cols, index=pd.Index([int(s) for s in steps], name="step"))


def ablation_table(
    steps: Sequence[int],
    params: Grok1LParams | Mapping[str, Tensor],
    p: int,
    data: "ModularData",
    key_freqs: Sequence[int],
    *,
    site: str = "logits",
    method: str = "zero",
    op: str = "add",
    seed: int = 0,
    memory_budget: float = 200e6,
    progress: Callable[[int, int], None] | None = None,
    view: "ModelView | None" = None,
) -> pd.DataFrame:
    """Both circuit ablations at every checkpoint of a stack (``Run.stack().params``): the ``table``
    of :class:`CircuitAblations`, shares included. ``view`` says how to run a model grokscope did
    not train (:func:`~grokscope.analysis.model_view.model_view`).
    """
    if not key_freqs:
        raise ValueError("no key frequencies: the circuits are undefined (has the run learned the Fourier algorithm?)")
    w = as_params(params)
    dirs = sum_directions(p, list(key_freqs), op=op, dtype=w.W_E.dtype)
    table = _run_variants(
        steps,
        w,
        p,
        data,
        [(c, dirs, c) for c in CIRCUITS],
        site=site,
        method=method,
        seed=seed,
        memory_budget=memory_budget,
        progress=progress,
        **_forward(view),
    )
    return add_shares(table, p)


def add_shares(table: pd.DataFrame, p: int) -> pd.DataFrame:
    """``table`` with the four share columns (module docstring)."""
    out = table.copy()
    chance, uniform = 1 / p, math.log(p)
    acc_gain = out["train_acc"] - chance
    loss_gain = uniform - out["train_loss"]
    for circuit, alone in (("generalizing", "memorize"), ("memorizing", "generalize")):
        acc = ((out[f"{alone}_train_acc"] - chance) / acc_gain).clip(lower=0)
        out[f"share_{circuit}"] = acc.where(acc_gain >= SHARE_FLOOR["acc"])
        loss = (uniform - out[f"{alone}_train_loss"]).clip(lower=0) / loss_gain
        out[f"share_loss_{circuit}"] = loss.where(loss_gain >= SHARE_FLOOR["loss"] * uniform)
    return out


def frequency_importance(
    step: int,
    params: Grok1LParams | Mapping[str, Tensor],
    p: int,
    data: "ModularData",
    key_freqs: Sequence[int],
    *,
    site: str = "logits",
    method: str = "zero",
    op: str = "add",
    seed: int = 0,
    view: "ModelView | None" = None,
) -> FrequencyImportance:
    """Loss increase when each key frequency alone is removed, at one checkpoint (``params`` with a leading axis of 1)."""
    w = as_params(params)
    variants = [(f"k{k}", sum_directions(p, [k], op=op, dtype=w.W_E.dtype), "generalize") for k in key_freqs]
    row = _run_variants(
        [step],
        w,
        p,
        data,
        variants,
        site=site,
        method=method,
        seed=seed,
        memory_budget=200e6,
        progress=None,
        **_forward(view),
    ).iloc[0]
    n_train, n_test = len(data.train_idx), len(data.test_idx)

    def all_loss(prefix: str) -> float:  # over all p^2 pairs, from the two splits
        return (n_train * row[f"{prefix}train_loss"] + n_test * row[f"{prefix}test_loss"]) / (n_train + n_test)

    base = {"loss": all_loss(""), **{m: float(row[m]) for m in METRICS}}
    table = pd.DataFrame(
        [
            {
                "loss": all_loss(f"k{k}_"),
                "loss_increase": all_loss(f"k{k}_") - base["loss"],
                **{m: float(row[f"k{k}_{m}"]) for m in METRICS},
            }
            for k in key_freqs
        ],
        index=pd.Index([int(k) for k in key_freqs], name="freq"),
    )
    return FrequencyImportance(step=int(step), site=site, method=method, base=base, table=table)


def ablate_run(
    run: "Run | str | Path",
    *,
    fourier: "FourierAnalysis | None" = None,
    step: int | None = None,
    site: str = "logits",
    method: str = "zero",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CircuitAblations:
    """Both circuit ablations of a run at every analysed checkpoint (or at ``step``), and the
    per-frequency importance at the last of them.

    The key frequencies and phases come from ``fourier`` (default: :func:`analyze_fourier`, cached).
    Raises ``ValueError`` for a bad site or method, a step without a checkpoint (naming the steps
    that exist), or a run without key frequencies.
    """
    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.analysis.model_view import model_view
    from grokscope.store.run import Run

    check_choice(site, SITES, "site")
    check_choice(method, METHODS, "ablation method")
    t0 = time.perf_counter()
    run = run if isinstance(run, Run) else Run(run)
    fa = fourier if fourier is not None else analyze_fourier(run)
    steps = fa.steps
    if step is not None:
        if step not in steps:
            shown = ", ".join(map(str, steps[:8])) + (f", ... {steps[-1]}" if len(steps) > 8 else "")
            raise ValueError(f"no checkpoint at step {step} in {run.name}; steps present: {shown}")
        steps = [step]
    if not fa.key_frequencies:
        raise ValueError(f"{run.name}: the Fourier analysis found no key frequencies, so the circuits are undefined")
    view = model_view(run.config)
    stack = run.stack(steps=steps)
    if stack.skipped:
        raise ValueError(
            f"{run.name}: checkpoint at step {stack.skipped[0][0]} became unreadable: {stack.skipped[0][1]}"
        )
    params = view.params(stack.params)
    data = view.dataset(run.task)
    keys = list(fa.key_frequencies)
    table = ablation_table(
        stack.steps,
        params,
        fa.p,
        data,
        keys,
        site=site,
        method=method,
        op=fa.op,
        seed=seed,
        progress=progress,
        view=view,
    )
    last = as_params(params).map(lambda x: x[-1:])
    importance = frequency_importance(
        stack.steps[-1], last, fa.p, data, keys, site=site, method=method, op=fa.op, seed=seed, view=view
    )
    return CircuitAblations(
        run=run.name,
        path=str(run.path),
        task=fa.task,
        p=fa.p,
        op=fa.op,
        key_frequencies=keys,
        site=site,
        method=method,
        seed=seed,
        table=table,
        phases=fa.phases,
        importance=importance,
        elapsed_s=time.perf_counter() - t0,
    )


__all__ = [
    "METRICS",
    "CircuitAblations",
    "FrequencyImportance",
    "ablate_run",
    "ablation_table",
    "add_shares",
    "frequency_importance",
    "share_crossings",
]
