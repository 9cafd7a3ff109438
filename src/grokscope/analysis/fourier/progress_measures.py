"""Progress measures (Nanda et al. 2023) at every checkpoint, vectorized over a checkpoint stack.

One pass over the checkpoints, a chunk at a time (as many as fit a memory budget): the model's
final position is computed on all ``p^2`` inputs for every checkpoint of the chunk at once by
:func:`grokscope.models.grok1l.grid.grid_cache` (batched over the checkpoint axis), or, for a
chunk of one checkpoint on CPU, by the fused numba forward
(:func:`grokscope.models.grok1l.fused.fused_final_cache_into`) into reused buffers. Each chunk is
reduced to a few numbers per checkpoint before the next one is computed, so memory stays bounded
whatever the number of checkpoints. The float32 cross-entropies run as one numba pass over the
logits (:mod:`grokscope.analysis.fourier.measure_kernels`) where they can.

Measures per checkpoint (as defined by Nanda et al. 2023, "Progress measures for grokking via
mechanistic interpretability"):

* ``train_loss``/``test_loss``/``*_acc``: on the run's split, from the full-grid logits.
* ``restricted_loss``: logits ``L`` over ALL ``p^2`` pairs projected onto the sum directions
  ``cos/sin(w_k (a+b))`` of the key frequencies ``K`` (those of the final checkpoint, reused for
  every checkpoint) plus the batch mean of ``L`` per output class; cross-entropy over all pairs.
* ``excluded_loss``: ``L`` minus that projection (no mean added back), cross-entropy on the
  TRAINING pairs only; ``excluded_loss_k<k>`` removes one key frequency at a time (paper Fig 12).
* ``gini_embed``/``gini_logit_map``: Gini coefficient (Hurley & Rickard 2009) of the ``N = p``
  Fourier-component norms (const, cos 1, sin 1, ...) of ``W_E`` (first ``p`` rows: '=' dropped)
  and of ``W_L = W_out W_U``. We use the ``p`` components rather than the ``(p-1)/2`` frequency
  norms because the paper's Fourier-norm figures are per component.
* ``sq_weights``: sum of squared weights over all parameters (biases included), and per
  component ``sq_embed``, ``sq_pos_embed``, ``sq_attn``, ``sq_mlp``, ``sq_unembed``.

Every cross-entropy is taken around the margins to the correct logit, which keeps the ~1e-7
losses of a grokked model exact even in float32, and averaged in float64.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import einops
import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.analysis.fourier.basis import (
    NeuronFrequencies,
    cluster_sizes,
    embed_component_norms,
    fourier_2d,
    fourier_basis,
    frequency_norms,
    key_frequencies,
    key_frequency_mask,
    live_neurons,
    logit_map,
    logit_map_component_norms,
    n_frequencies,
    neuron_frequencies,
    sum_directions,
)
from grokscope.analysis.fourier.results import FinalSpectra, FrequencyTracks, KeyFrequencyRule
from grokscope.models.grok1l.grid import grid_cache
from grokscope.numerics.workspace import Workspace

if TYPE_CHECKING:
    from grokscope.analysis.model_view import GridForward
from grokscope.models.grok1l.fused import OperandBatch, fused_final_cache_into
from grokscope.models.grok1l.names import COMPONENTS
from grokscope.models.grok1l.params import Grok1LParams, as_params
from grokscope.models.grok1l.paths import fused_available
from grokscope.runtime import flush_denormals

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each chunk of checkpoints."""

COMPONENT_ORDER = ("embed", "pos_embed", "attn", "mlp", "unembed")


def gini(x: Float[Tensor, "*batch n"]) -> Float[Tensor, "*batch"]:
    """Gini coefficient of non-negative values (Hurley & Rickard 2009): 0 when flat, ``1 - 1/N`` when one-hot.

    With ``c`` sorted ascending: ``G = 1 - 2 * sum_i (c_i / |c|_1) * (N - i + 1/2) / N``, ``i = 1..N``.
    """
    c = x.sort(dim=-1).values
    n = c.shape[-1]
    i = torch.arange(1, n + 1, dtype=c.dtype, device=c.device)
    weights = (n - i + 0.5) / n
    return 1 - 2 * (c / c.sum(-1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny) * weights).sum(-1)


def squared_weights(w: Grok1LParams) -> pd.DataFrame:
    """Sum of squared weights per checkpoint (leading axis): ``sq_weights`` (all parameters) and per component."""
    groups: dict[str, Tensor] = {}
    for field, x in w.items():
        sq = torch.linalg.vector_norm(x.flatten(1), dim=1, dtype=torch.float64).square()
        key = COMPONENTS[field]
        groups[key] = groups.get(key, 0) + sq
    cols = {f"sq_{g}": groups[g].numpy() for g in COMPONENT_ORDER}
    return pd.DataFrame({"sq_weights": sum(cols.values()), **cols})


def project(logits: Float[Tensor, "*batch pp c"], dirs: Float[Tensor, "n_dirs pp"]) -> Float[Tensor, "*batch pp c"]:
    """Orthogonal projection of each output class's logit table onto the span of ``dirs`` (unit rows)."""
    coefs = einops.einsum(dirs, logits, "d x, ... x c -> ... d c")
    return einops.einsum(dirs, coefs, "d x, ... d c -> ... x c")


def restricted_logits(
    logits: Float[Tensor, "*batch pp c"], dirs: Float[Tensor, "n_dirs pp"]
) -> Float[Tensor, "*batch pp c"]:
    """Only the key-frequency sum directions of the logits, plus their batch mean per class (paper's trig_loss)."""
    kept = project(logits, dirs)
    return kept + logits.mean(dim=-2, keepdim=True) - kept.mean(dim=-2, keepdim=True)


def excluded_logits(
    logits: Float[Tensor, "*batch pp c"], dirs: Float[Tensor, "n_dirs pp"]
) -> Float[Tensor, "*batch pp c"]:
    """The logits with the key-frequency sum directions removed (no mean correction, as in the paper)."""
    return logits - project(logits, dirs)


def cross_entropy(logits: Float[Tensor, "*batch n c"], labels: Int[Tensor, " n"]) -> Float[Tensor, "*batch"]:
    """Mean cross-entropy per leading index, returned in float64.

    Computed as ``m + log(exp(-m) + sum_{j != y} exp(L_j - L_y - m))`` with
    ``m = max(0, max_{j != y} L_j - L_y)``: when the true class wins (``m = 0``) this is
    ``log1p(small)``, exact to float rounding even for losses of 1e-8 in float32, where a float32
    ``log_softmax`` would round ``log(1 + 1e-8)`` to 0. Equals float64 ``log_softmax`` (tested).
    """
    diff = logits - logits.gather(-1, labels.expand(*logits.shape[:-2], -1).unsqueeze(-1))  # L_j - L_y
    diff.scatter_(-1, labels.expand(*logits.shape[:-2], -1).unsqueeze(-1), float("-inf"))  # drop j = y
    m = diff.amax(dim=-1, keepdim=True).clamp_min(0)
    # Terms below e^-80 cannot matter (the sum holds a 1 or a loss far above 1e-34), and clamping
    # keeps exp out of float32 denormals, which are ~10x slower on x86.
    rest = (diff - m).clamp_(min=-80.0).exp_().sum(dim=-1, keepdim=True)
    per_row = (m + torch.log((-m).exp() + rest)).squeeze(-1)
    # log1p keeps the tiny losses exact where m == 0
    per_row = torch.where(m.squeeze(-1) == 0, torch.log1p(rest.squeeze(-1)), per_row)
    return per_row.double().mean(dim=-1)


def accuracy(logits: Float[Tensor, "*batch n c"], labels: Int[Tensor, " n"]) -> Float[Tensor, "*batch"]:
    return (logits.argmax(dim=-1) == labels).double().mean(dim=-1)


@dataclass(frozen=True, eq=False)
class ProgressMeasures:
    """The progress measures of a checkpoint stack: one DataFrame row per checkpoint (index: step)."""

    measures: pd.DataFrame
    key_frequencies: list[int]
    tracks: FrequencyTracks
    final: FinalSpectra


def grid_forward(w: Grok1LParams, p: int, workspace: Workspace | None = None) -> tuple[Tensor, Tensor]:
    """``(mlp_post, logits)`` at the final position for every checkpoint and every pair ``(a, b)``.

    ``w`` has a leading checkpoint axis. Shapes ``(ckpt, p, p, d_mlp)`` and ``(ckpt, p, p,
    d_vocab_out)``, a-major like ``task.dataset()``.
    """
    W_E = w.W_E
    if len(W_E) == 1 and W_E.device.type == "cpu" and workspace is not None and fused_available("cpu"):
        # One checkpoint on CPU: the numba kernel writes [post | direct] (ReLU fused) straight into
        # reused buffers, a pass or two fewer over the big (p^2, d_mlp) activations than the bmm route.
        one = w.map(lambda x: x[0])
        n, d_mlp, d_out = p * p, one.d_mlp, one.d_vocab_out
        hidden = workspace.get("fused.hidden", (n, d_mlp + d_out), W_E)
        logits = workspace.get("fused.logits", (n, d_out), W_E)
        pattern = workspace.get("fused.pattern", (n, one.n_heads, 3), W_E)
        post = fused_final_cache_into(one, _grid_operands(p), p, pattern=pattern, hidden=hidden, logits=logits)
        return post.view(1, p, p, d_mlp), logits.view(1, p, p, d_out)
    cache = grid_cache(w, p, workspace=workspace)
    return cache.mlp_post, cache.logits


@lru_cache(maxsize=4)
def _grid_operands(p: int) -> OperandBatch:
    a = torch.arange(p).repeat_interleave(p)  # a-major, like task.dataset()
    return OperandBatch(a, torch.arange(p).repeat(p), p)


def check_vocabulary(w: Grok1LParams, p: int, *, eq_token: bool = True) -> None:
    """Raise ``ValueError`` unless the checkpoints read residues ``0..p-1`` (plus '=' when ``eq_token``)
    and predict them."""
    d_vocab, d_out = w.W_E.shape[-2], w.d_vocab_out
    if d_vocab != p + int(eq_token) or d_out != p:
        raise ValueError(
            f"p={p} does not match the checkpoints' vocabulary ({d_vocab} input tokens, {d_out} "
            f"output classes, i.e. p={d_out}): pass --p {d_out} or leave it out"
        )


def _chunk_size(p: int, d_mlp: int, budget_bytes: float) -> int:
    # ~6 float32 copies of the (p^2, d_mlp) activations live at once, plus the float64 logits and
    # their projections. Small chunks are faster on CPU (measured: 10 s for 146 mod-97
    # checkpoints one at a time, 16 s five at a time): big temporaries cost page faults.
    per_ckpt = p * p * (6 * 4 * d_mlp + 4 * 8 * p)
    return max(1, int(budget_bytes // per_ckpt))


def progress_measures(
    steps: Sequence[int],
    params: Grok1LParams | Mapping[str, Tensor],
    p: int,
    labels: Int[Tensor, " pp"],
    train_idx: Int[Tensor, " n_train"],
    test_idx: Int[Tensor, " n_test"],
    *,
    op: str = "add",
    key_freqs: Sequence[int] | None = None,
    rule: KeyFrequencyRule = KeyFrequencyRule(),
    memory_budget: float = 200e6,
    progress: Progress | None = None,
    forward: "GridForward | None" = None,
    eq_token: bool = True,
) -> ProgressMeasures:
    """All progress measures of a stack of checkpoints of the 1-layer model (see module docstring).

    ``params`` have a leading checkpoint axis (``Run.stack().params``, or a ``Grok1LParams`` of
    such tensors); ``labels`` index the
    a-major grid of all ``p^2`` pairs. ``key_freqs`` defaults to the key frequencies of the last
    checkpoint by ``rule``; they are reused for every checkpoint, as in the paper. ``forward``
    computes the final position on the grid (default :func:`grid_forward`; a
    :class:`~grokscope.analysis.model_view.ModelView` gives the one that fits a model);
    ``eq_token=False`` for models read as ``[a, b]``.
    """
    w = as_params(params)
    check_vocabulary(w, p, eq_token=eq_token)
    forward = grid_forward if forward is None else forward
    n_ckpt = len(steps)
    if n_ckpt == 0:
        raise ValueError("no checkpoints to analyse")
    # A grokked model's logits and their projections hold values small enough that products
    # become denormal floats, which make x86 arithmetic 10-100x slower (measured: a broadcast
    # subtraction over the (p^2, p) logits ran ~20x slower). Flushing them to zero
    # moves no measure by more than 1e-38.
    with flush_denormals(), torch.no_grad():
        last = w.map(lambda x: x[-1:])
        post, logits = forward(last, p, None)
        nf_last = neuron_frequencies(post[0].double())
        keys = list(key_freqs) if key_freqs is not None else key_frequencies(nf_last, rule)
        final = _final_spectra(int(steps[-1]), last, nf_last, logits[0], p)

        U_all = sum_directions(p, list(range(1, n_frequencies(p) + 1)), op=op, dtype=w.W_E.dtype)
        chunk = _chunk_size(p, w.d_mlp, memory_budget)
        rows: list[dict[str, Tensor]] = []
        workspace = Workspace()
        for start in range(0, n_ckpt, chunk):
            sub = w.map(lambda x: x[start : start + chunk])  # noqa: B023 - used at once
            rows.append(_chunk_measures(sub, p, labels, train_idx, test_idx, keys, U_all, rule, workspace, forward))
            if progress is not None:
                progress(min(start + chunk, n_ckpt), n_ckpt)
    cat = {k: torch.cat([r[k] for r in rows]) for k in rows[0]}
    cat |= cluster_measures(NeuronFrequencies(fve=cat.pop("fve"), variance=cat.pop("variance")), rule)
    cat |= weight_measures(w, p)
    arrays = {k: v.numpy() for k, v in cat.items()}

    measures = pd.DataFrame({k: v for k, v in arrays.items() if v.ndim == 1}, index=pd.Index(list(steps), name="step"))
    measures["test_over_restricted"] = measures["test_loss"] / measures["restricted_loss"]
    for i, k in enumerate(keys):
        measures[f"excluded_loss_k{k}"] = arrays["excluded_per_k"][:, i]
    sq = squared_weights(w)
    sq.index = measures.index
    measures = pd.concat([measures, sq], axis=1)
    tracks = FrequencyTracks(
        steps=list(steps),
        neuron_clusters=arrays["neuron_clusters"],
        neuron_share=arrays["neuron_share"],
        embed_norms=arrays["embed_norms"],
        logit_map_norms=arrays["logit_map_norms"],
        logit_share=arrays["logit_share"],
        key_mask=arrays["key_mask"],
    )
    return ProgressMeasures(measures=measures, key_frequencies=keys, tracks=tracks, final=final)


def _chunk_measures(
    params, p, labels, train_idx, test_idx, keys, U_all, rule, workspace=None, forward=None
) -> dict[str, Tensor]:
    """Per-checkpoint numbers for one chunk; the big activations are reduced before the next chunk."""
    post, logits = (forward or grid_forward)(params, p, workspace)
    # Projections stay in the forward's dtype (float32 for checkpoints: its rounding is far below
    # the forward's own); every cross-entropy is taken in float64.
    L = einops.rearrange(logits, "c a b o -> c (a b) o")
    U_all = U_all if U_all.dtype == L.dtype else U_all.to(L.dtype)
    # Coefficients of every frequency's two sum directions over all p^2 pairs, per class. The
    # directions have zero mean over the grid, so these are also the class-centred coefficients.
    coefs = einops.einsum(U_all, L, "d x, c x o -> c d o")
    rows = torch.tensor([2 * (k - 1) + t for k in keys for t in (0, 1)], dtype=torch.long)
    U_key, coef_key = U_all[rows], coefs[:, rows]
    losses = _fused_losses if _fused_losses_apply(L, coefs) else logit_losses
    out = losses(L, labels, train_idx, test_idx, U_key, coef_key)

    # Share of the class-centred logits' energy along each frequency's two sum directions.
    # ||L - mean||^2 = ||L||^2 - n ||mean||^2: one pass, torch's pairwise sums in the logits' dtype
    # (asking for float64 accumulation makes a float64 copy first, ~10x slower here).
    mean = L.mean(dim=1).double()
    centred_energy = (L * L).sum(dim=(1, 2)).double() - L.shape[1] * mean.square().sum(-1)
    per_freq = einops.reduce(coefs.double().square(), "c (k t) o -> c k", "sum", t=2)
    out["logit_share"] = per_freq / centred_energy.clamp_min(1e-300)[:, None]

    # Only the small per-neuron table leaves the chunk; clusters are counted once for all checkpoints.
    nf = neuron_frequencies(post, workspace=workspace)
    out["fve"], out["variance"] = nf.fve, nf.variance
    return out


def logit_losses(
    L: Float[Tensor, "c pp o"],
    labels: Int[Tensor, " pp"],
    train_idx: Int[Tensor, " n_train"],
    test_idx: Int[Tensor, " n_test"],
    U_key: Float[Tensor, "d pp"],
    coef_key: Float[Tensor, "c d o"],
) -> dict[str, Tensor]:
    """Losses and accuracies of the grid logits and of their restricted and excluded parts, per checkpoint.

    ``U_key`` holds the key frequencies' sum directions (two rows per frequency) and ``coef_key``
    the logits' coefficients on them. Returns ``(c,)`` float64 tensors: ``train_loss``,
    ``test_loss``, ``train_acc``, ``test_acc``, ``excluded_loss``, ``restricted_loss``,
    ``restricted_acc``, and ``excluded_per_k`` of shape ``(c, n_keys)``.
    """
    hit = (L.argmax(dim=-1) == labels).double()
    L_train, y_train = L[:, train_idx], labels[train_idx]
    out: dict[str, Tensor] = {
        "train_loss": cross_entropy(L_train, y_train),
        "test_loss": cross_entropy(L[:, test_idx], labels[test_idx]),
        "train_acc": hit[:, train_idx].mean(1),
        "test_acc": hit[:, test_idx].mean(1),
    }
    kept = einops.einsum(U_key, coef_key, "d x, c d o -> c x o")
    # Excluded: the projection is over all pairs; only the loss is on the training pairs.
    out["excluded_loss"] = cross_entropy(L_train - kept[:, train_idx], y_train)
    # Restricted: the kept part plus the batch mean of L (paper: Lr += mean(L) - mean(Lr)).
    Lr = kept.add_(L.mean(dim=1, keepdim=True) - kept.mean(dim=1, keepdim=True))
    out["restricted_loss"] = cross_entropy(Lr, labels)
    out["restricted_acc"] = accuracy(Lr, labels)
    U_key_train = U_key[:, train_idx]
    per_k = [
        cross_entropy(
            L_train
            - einops.einsum(U_key_train[2 * i : 2 * i + 2], coef_key[:, 2 * i : 2 * i + 2], "d x, c d o -> c x o"),
            y_train,
        )
        for i in range(len(U_key) // 2)
    ]
    out["excluded_per_k"] = torch.stack(per_k, dim=1) if per_k else hit.new_zeros(len(L), 0)
    return out


def _fused_losses_apply(L: Tensor, coefs: Tensor) -> bool:
    # The kernel is float32-only and assumes finite logits (fastmath); a diverged checkpoint
    # takes the PyTorch route, which propagates its NaNs. Every grid row has a nonzero weight in
    # the frequency-1 directions, so a NaN or inf in L shows in its small coefficient table.
    return L.dtype == torch.float32 and fused_available(L.device) and bool(torch.isfinite(coefs).all())


def _fused_losses(L, labels, train_idx, test_idx, U_key, coef_key) -> dict[str, Tensor]:
    """:func:`logit_losses` in one numba pass over the logits (see :mod:`.measure_kernels`)."""
    from grokscope.analysis.fourier.measure_kernels import logit_losses as kernel

    c, n, _ = L.shape
    n_keys = len(U_key) // 2
    train = torch.zeros(n, dtype=torch.bool)
    train[train_idx] = True
    # mean over the grid of kept = mean(U_key) @ coef_key: the restricted logits' correction
    adj = L.mean(dim=1) - einops.einsum(U_key.mean(dim=1), coef_key, "d, c d o -> c o")
    losses = torch.empty(c, n, 3 + n_keys, dtype=torch.float64)
    hits = torch.empty(c, n, 2, dtype=torch.bool)
    kernel(
        L.contiguous().numpy(),
        labels.numpy(),
        train.numpy(),
        U_key.contiguous().numpy(),
        coef_key.contiguous().numpy(),
        adj.contiguous().numpy(),
        losses.numpy(),
        hits.numpy(),
    )
    on_train, on_test = losses[:, train_idx].mean(1), losses[:, test_idx, 0].mean(1)
    hit_train, hit_test = hits[:, train_idx].double().mean(1), hits[:, test_idx, 0].double().mean(1)
    return {
        "train_loss": on_train[:, 0],
        "test_loss": on_test,
        "train_acc": hit_train[:, 0],
        "test_acc": hit_test,
        "excluded_loss": on_train[:, 2],
        "restricted_loss": losses[:, :, 1].mean(1),
        "restricted_acc": hits[:, :, 1].double().mean(1),
        "excluded_per_k": on_train[:, 3:],
    }


def weight_measures(w: Grok1LParams, p: int) -> dict[str, Tensor]:
    """Measures of the weights alone, for all checkpoints at once: Gini coefficients and frequency norms."""
    # In the weights' own dtype (float32 for checkpoints: ~1e-7 relative, 5x faster than float64
    # over a whole run's W_L stack); the Gini coefficients are taken in float64.
    W_L = logit_map(w.W_out, w.W_U)
    e_comp = embed_component_norms(w.W_E, p).double()
    l_comp = logit_map_component_norms(W_L).double()
    return {
        "gini_embed": gini(e_comp),
        "gini_logit_map": gini(l_comp),
        "embed_norms": frequency_norms(e_comp),
        "logit_map_norms": frequency_norms(l_comp),
    }


def cluster_measures(nf: NeuronFrequencies, rule: KeyFrequencyRule) -> dict[str, Tensor]:
    """Neuron clusters, their share of the neurons' energy and the key-frequency mask per checkpoint."""
    block = nf.fve.double() * nf.variance.double()[..., None]
    mask = key_frequency_mask(nf, rule)
    return {
        "neuron_clusters": cluster_sizes(nf, rule),
        "live_neurons": live_neurons(nf, rule),
        "neuron_share": block.sum(-2) / nf.variance.double().sum(-1).clamp_min(1e-30)[..., None],
        "key_mask": mask,
        "n_key_frequencies": mask.sum(-1),
    }


def _final_spectra(
    step: int, w: Grok1LParams, nf: NeuronFrequencies, logits: Float[Tensor, "p p o"], p: int
) -> FinalSpectra:
    W_E = w.W_E[0].double()
    W_L = logit_map(w.W_out[0].double(), w.W_U[0].double())
    spectrum = fourier_2d(logits.double(), fourier_basis(p)).norm(dim=-1)
    return FinalSpectra(
        step=step,
        embed_components=embed_component_norms(W_E, p).numpy(),
        logit_map_components=logit_map_component_norms(W_L).numpy(),
        neuron_fve=nf.fve.numpy(),
        neuron_variance=nf.variance.numpy(),
        logit_spectrum=spectrum.numpy(),
    )


__all__ = [
    "COMPONENT_ORDER",
    "FinalSpectra",
    "FrequencyTracks",
    "ProgressMeasures",
    "accuracy",
    "check_vocabulary",
    "cross_entropy",
    "excluded_logits",
    "gini",
    "grid_forward",
    "progress_measures",
    "project",
    "restricted_logits",
    "squared_weights",
]
