"""Naive, frozen reference of the progress measures: one checkpoint at a time, the plain way.

Each checkpoint goes into the installed TransformerLens's model (``Run.model``: a
``HookedTransformer`` on 3.x, a ``TransformerBridge`` on 4.x), ``run_with_cache`` runs on all
``p^2`` token rows, its weights are read back in 3.x names (``model_state``), and every measure
is computed with explicit loops in numpy from the definitions of Nanda et al. 2023 ("Progress
measures for grokking via mechanistic interpretability"). Nothing here is shared with
``grokscope.analysis``: it is the yardstick the vectorized code is tested against (and the
"plain loop" of ``benchmarks/analysis_speed.py``).
"""

import math

import numpy as np
import torch

from grokscope.models.build import model_state


def basis(p: int) -> np.ndarray:
    """Rows: const, cos 1, sin 1, ..., written out one row at a time."""
    F = np.zeros((p, p))
    x = np.arange(p)
    F[0] = 1 / math.sqrt(p)
    for k in range(1, (p - 1) // 2 + 1):
        F[2 * k - 1] = np.cos(2 * math.pi * k * x / p) / math.sqrt(p / 2)
        F[2 * k] = np.sin(2 * math.pi * k * x / p) / math.sqrt(p / 2)
    return F


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def gini(c: np.ndarray) -> float:
    c = np.sort(c)
    n = len(c)
    return float(1 - 2 * sum(c[i - 1] / c.sum() * (n - i + 0.5) / n for i in range(1, n + 1)))


def neuron_fve(acts: np.ndarray, p: int) -> np.ndarray:
    """(n_neurons, n_freq): energy of each {const, cos k, sin k}^2 block over total, from the full 2D transform."""
    F = basis(p)
    grid = acts.reshape(p, p, -1)
    grid = grid - grid.mean(axis=(0, 1))
    # T^[f, g] = sum_ab F[f, a] F[g, b] T[a, b], one axis at a time (BLAS, not a p^4 einsum).
    over_a = np.tensordot(F, grid, axes=(1, 0))  # (f, b, n)
    coef = np.tensordot(over_a, F, axes=(1, 1)).transpose(0, 2, 1)  # (f, n, g) -> (f, g, n)
    energy = coef**2
    total = energy.sum(axis=(0, 1))
    out = np.zeros((grid.shape[-1], (p - 1) // 2))
    for k in range(1, (p - 1) // 2 + 1):
        idx = [0, 2 * k - 1, 2 * k]
        out[:, k - 1] = energy[np.ix_(idx, idx)].sum(axis=(0, 1)) / np.maximum(total, 1e-300)
    return out


def sum_dirs(p: int, freqs: list[int]) -> list[np.ndarray]:
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    dirs = []
    for k in freqs:
        for fn in (np.cos, np.sin):
            v = fn(2 * math.pi * k * (a + b) / p).flatten()
            dirs.append(v / np.linalg.norm(v))
    return dirs


def checkpoint_measures(
    model, p: int, labels: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, key_freqs: list[int]
) -> dict:
    """Every measure of one checkpoint, from TransformerLens's model of it (either version)."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    tokens = torch.tensor(np.stack([a.flatten(), b.flatten(), np.full(p * p, p)], axis=1))
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    L = logits[:, -1].double().numpy()
    acts = cache["blocks.0.mlp.hook_post"][:, -1].double().numpy()

    out = {
        "train_loss": cross_entropy(L[train_idx], labels[train_idx]),
        "test_loss": cross_entropy(L[test_idx], labels[test_idx]),
        "train_acc": float((L[train_idx].argmax(1) == labels[train_idx]).mean()),
        "test_acc": float((L[test_idx].argmax(1) == labels[test_idx]).mean()),
    }
    dirs = sum_dirs(p, key_freqs)
    proj = np.zeros_like(L)
    for u in dirs:
        proj += np.outer(u, u @ L)
    restricted = proj + L.mean(axis=0) - proj.mean(axis=0)
    out["restricted_loss"] = cross_entropy(restricted, labels)
    out["restricted_acc"] = float((restricted.argmax(1) == labels).mean())
    excluded = L - proj
    out["excluded_loss"] = cross_entropy(excluded[train_idx], labels[train_idx])
    for i, k in enumerate(key_freqs):
        pk = sum(np.outer(u, u @ L) for u in dirs[2 * i : 2 * i + 2])
        out[f"excluded_loss_k{k}"] = cross_entropy((L - pk)[train_idx], labels[train_idx])

    # Share of the class-centred logits' energy along each frequency's sum directions.
    centred = L - L.mean(axis=0)
    all_dirs = sum_dirs(p, list(range(1, (p - 1) // 2 + 1)))
    energy = (centred**2).sum()
    out["logit_share"] = np.array(
        [sum(((u @ centred) ** 2).sum() for u in all_dirs[2 * i : 2 * i + 2]) / energy for i in range((p - 1) // 2)]
    )

    F = basis(p)
    # The parameters in TransformerLens 3.x names and layouts, whichever TransformerLens built the model.
    sd = {k: v.detach().double().numpy() for k, v in model_state(model).items()}
    W_E = sd["embed.W_E"][:p]
    W_L = sd["blocks.0.mlp.W_out"] @ sd["unembed.W_U"]
    e_comp, l_comp = np.linalg.norm(F @ W_E, axis=1), np.linalg.norm(F @ W_L.T, axis=1)
    out["gini_embed"] = gini(e_comp)
    out["gini_logit_map"] = gini(l_comp)
    out["embed_norms"] = np.sqrt(e_comp[1::2] ** 2 + e_comp[2::2] ** 2)
    out["logit_map_norms"] = np.sqrt(l_comp[1::2] ** 2 + l_comp[2::2] ** 2)
    out["sq_weights"] = float(sum((v**2).sum() for v in sd.values()))
    out["sq_embed"] = float((sd["embed.W_E"] ** 2).sum())
    out["sq_attn"] = float(sum((v**2).sum() for k, v in sd.items() if ".attn." in k))
    fve = neuron_fve(acts, p)
    out["neuron_fve"] = fve
    # Neurons per frequency cluster: FVE >= 0.6, dead neurons (no variance) left out.
    var = ((acts - acts.mean(axis=0)) ** 2).sum(axis=0)
    live = var > 1e-6 * var.max()
    out["neuron_clusters"] = np.array([int(((fve[:, k] >= 0.6) & live).sum()) for k in range(fve.shape[1])])
    return out


def run_measures(run, key_freqs: list[int], *, dtype: torch.dtype = torch.float32, steps=None) -> list[dict]:
    """``checkpoint_measures`` for each checkpoint of ``run`` (default all), each in TransformerLens's model."""
    data = run.task.dataset()
    labels, train_idx, test_idx = data.labels.numpy(), data.train_idx.numpy(), data.test_idx.numpy()
    rows = []
    for step in run.steps if steps is None else steps:
        model = run.model(step).to(dtype, print_details=False)
        rows.append({"step": step, **checkpoint_measures(model, run.task.p, labels, train_idx, test_idx, key_freqs)})
    return rows
