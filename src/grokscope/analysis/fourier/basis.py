"""The Fourier basis of Z_p and the projections the progress measures are built from.

Conventions (Nanda et al. 2023, "Progress measures for grokking via mechanistic interpretability"):

* The basis is a ``(p, p)`` matrix ``F`` whose rows are orthonormal functions of ``x = 0..p-1``:
  row 0 is ``const = 1/sqrt(p)``, row ``2k-1`` is ``cos k = cos(w_k x)/sqrt(p/2)`` and row ``2k`` is
  ``sin k = sin(w_k x)/sqrt(p/2)`` with ``w_k = 2 pi k / p``, for ``k = 1..(p-1)/2`` (p odd).
  An even modulus (``p - 1`` for the discrete-log view of ``mul``/``div`` runs) also has the
  frequency ``k = p/2``, whose ``cos`` is ``(-1)^x/sqrt(p)`` and whose ``sin`` is identically 0:
  its row is kept as a zero row, so that every frequency is a (cos, sin) pair and ``F`` is
  ``(p + 1, p)``, orthonormal but for that row.
* A "component" is one basis row; a "frequency" ``k`` is the pair ``{cos k, sin k}``. Frequency
  norms are the root-sum-square of the two component norms, so they do not depend on phase.
* Grids over all pairs are a-major, like ``task.dataset()``: flat index ``a * p + b``.
  ``T^[f, g] = sum_ab F[f, a] F[g, b] T[a, b]`` is the 2D transform.

Everything here is plain torch on tensors with optional leading batch (checkpoint) axes, so the
same functions serve one model and a stack of checkpoints.
"""

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import einops
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from grokscope.analysis.fourier.results import KeyFrequencyRule

if TYPE_CHECKING:
    from grokscope.numerics.workspace import Workspace


def check_modulus(p: int) -> None:
    if isinstance(p, bool) or not isinstance(p, int) or p < 3:
        raise ValueError(f"the Fourier analysis needs a modulus p >= 3, got p={p!r}")


def n_frequencies(p: int) -> int:
    """Number of non-constant frequencies: ``(p - 1) / 2`` for odd ``p``, ``p / 2`` for even ``p``.

    >>> n_frequencies(97), n_frequencies(96)
    (48, 48)
    """
    check_modulus(p)
    return p // 2


def frequencies(p: int) -> list[int]:
    """The frequencies ``1..(p-1)/2``."""
    return list(range(1, n_frequencies(p) + 1))


def basis_names(p: int) -> list[str]:
    """Row names of :func:`fourier_basis`: ``['const', 'cos 1', 'sin 1', ...]``.

    >>> basis_names(5)
    ['const', 'cos 1', 'sin 1', 'cos 2', 'sin 2']
    """
    return ["const"] + [f"{t} {k}" for k in frequencies(p) for t in ("cos", "sin")]


def fourier_basis(p: int, *, dtype: torch.dtype = torch.float64) -> Float[Tensor, "f p"]:
    """The orthonormal Fourier basis of Z_p, one basis function per row (see module docstring):
    ``(p, p)`` for odd ``p``, ``(p + 1, p)`` with a zero last row for even ``p``.

    Built in float64 whatever ``dtype`` is asked for (float32 angles lose orthonormality at ~1e-6),
    and cached: treat the result as read-only.

    >>> F = fourier_basis(5)
    >>> bool(torch.allclose(F @ F.T, torch.eye(5, dtype=F.dtype)))
    True
    >>> tuple(fourier_basis(4).shape), fourier_basis(4)[-1].tolist()  # even p: sin(pi x) is a zero row
    ((5, 4), [0.0, 0.0, 0.0, 0.0])
    """
    return _basis(p, dtype)


@lru_cache(maxsize=16)
def _basis(p: int, dtype: torch.dtype) -> Tensor:
    x = torch.arange(p, dtype=torch.float64)
    k = torch.tensor(frequencies(p), dtype=torch.float64)
    angles = 2 * math.pi * k[:, None] * x[None, :] / p  # (n_freq, p)
    trig = torch.stack([angles.cos(), angles.sin()], dim=1) / math.sqrt(p / 2)  # (n_freq, 2, p)
    if p % 2 == 0:  # the frequency p/2: cos is (-1)^x, of norm sqrt(p); sin is zero
        trig[-1, 0] = torch.cos(math.pi * x) / math.sqrt(p)
        trig[-1, 1] = 0.0
    rows = torch.cat(
        [torch.full((1, p), 1 / math.sqrt(p), dtype=torch.float64), einops.rearrange(trig, "k t x -> (k t) x")]
    )
    return rows.to(dtype)


def fourier_1d(x: Float[Tensor, "*batch p rest"], basis: Float[Tensor, "f p"]) -> Float[Tensor, "*batch f rest"]:
    """Coefficients along the second-to-last axis: ``out[..., f, r] = sum_x F[f, x] x[..., x, r]``."""
    return einops.einsum(basis.to(x.dtype), x, "f x, ... x r -> ... f r")


def fourier_2d(x: Float[Tensor, "*batch p p rest"], basis: Float[Tensor, "f p"]) -> Float[Tensor, "*batch f f rest"]:
    """2D transform of a grid over ``(a, b)``: ``out[..., f, g, r] = sum_ab F[f,a] F[g,b] x[..., a, b, r]``.

    Done as two 1D transforms (two matmuls) rather than one 3-operand einsum, whose contraction
    order torch may pick badly.
    """
    F = basis.to(x.dtype)
    over_b = einops.einsum(F, x, "g b, ... a b r -> ... a g r")
    return einops.einsum(F, over_b, "f a, ... a g r -> ... f g r")


def component_norms(coefs: Float[Tensor, "*batch f rest"]) -> Float[Tensor, "*batch f"]:
    """Norm of each Fourier component over the trailing axis (e.g. over d_model or neurons)."""
    return coefs.norm(dim=-1)


def frequency_norms(norms: Float[Tensor, "*batch f"]) -> Float[Tensor, "*batch n_freq"]:
    """Per-frequency norm ``sqrt(|cos k|^2 + |sin k|^2)`` from per-component norms (const dropped).

    Two signals over ``Z_7`` (as columns), frequency 3 with a phase and frequency 1 at half the amplitude:

    >>> p = 7
    >>> x = torch.arange(p, dtype=torch.float64)
    >>> waves = torch.stack([torch.cos(2 * math.pi * 3 * x / p + 1.0), 0.5 * torch.sin(2 * math.pi * x / p)], dim=1)
    >>> norms = frequency_norms(component_norms(fourier_1d(waves, fourier_basis(p))))
    >>> [round(v, 4) for v in norms.tolist()]  # k = 3 has norm sqrt(p / 2), whatever its phase
    [0.9354, 0.0, 1.8708]
    """
    pairs = einops.rearrange(norms[..., 1:], "... (k t) -> ... k t", t=2)
    return pairs.norm(dim=-1)


def embed_component_norms(W_E: Float[Tensor, "*batch d_vocab d_model"], p: int) -> Float[Tensor, "*batch f"]:
    """Fourier-component norms of the embedding (paper Fig 3a): the '=' row and beyond are dropped."""
    coefs = fourier_1d(W_E[..., :p, :], fourier_basis(p, dtype=W_E.dtype))
    return component_norms(coefs)


def logit_map(
    W_out: Float[Tensor, "*batch d_mlp d_model"], W_U: Float[Tensor, "*batch d_model d_vocab_out"]
) -> Float[Tensor, "*batch d_mlp d_vocab_out"]:
    """``W_L = W_out @ W_U``: how each neuron moves each output logit."""
    return W_out @ W_U


def logit_map_component_norms(W_L: Float[Tensor, "*batch d_mlp p"]) -> Float[Tensor, "*batch f"]:
    """Fourier-component norms of ``W_L`` over the output axis, norm over neurons (paper Fig 3b)."""
    p = W_L.shape[-1]
    coefs = fourier_1d(einops.rearrange(W_L, "... n c -> ... c n"), fourier_basis(p, dtype=W_L.dtype))
    return component_norms(coefs)


@dataclass(frozen=True, eq=False)
class NeuronFrequencies:
    """How much of each neuron's variance over the ``(a, b)`` grid each frequency explains.

    ``fve[..., n, k-1]``: fraction of neuron ``n``'s centred energy in the ``{const, cos k, sin k}^2``
    block of its 2D Fourier transform (8 terms: the (const, const) term is 0 after centring).
    ``variance[..., n]``: the neuron's total centred energy over the grid (0 for a dead neuron).
    """

    fve: Float[Tensor, "*batch n_neurons n_freq"]
    variance: Float[Tensor, "*batch n_neurons"]

    @property
    def best(self) -> tuple[Float[Tensor, "*batch n_neurons"], Int[Tensor, "*batch n_neurons"]]:
        """Each neuron's largest FVE and its frequency (1-based)."""
        best, idx = self.fve.max(dim=-1)
        return best, idx + 1


def neuron_frequencies(
    acts: Float[Tensor, "*batch p p n_neurons"], *, workspace: "Workspace | None" = None
) -> NeuronFrequencies:
    """Per-neuron, per-frequency fraction of variance explained, from activations on the full grid.

    ``acts[..., a, b, n]`` is neuron ``n``'s activation at the final position on input ``[a, b, =]``.
    Equals summing the ``{const, cos k, sin k}^2`` blocks of ``fourier_2d`` of the centred
    activations (tested), but only the entries of those blocks are computed: one transform along
    ``b`` (split into its even and odd halves), then along ``a`` only row ``const`` and the 2x2
    diagonal blocks. That is ~p/2 times fewer FLOPs than the full 2D transform for the second
    axis, and no ``(p, p, n)`` energy tensor. Float32 on CPU runs the two passes over the
    activations as numba kernels (``analysis/fourier/measure_kernels.py``).
    ``workspace`` (:class:`grokscope.numerics.workspace.Workspace`) reuses the big temporaries.
    """
    p = acts.shape[-2]
    if p % 2 == 0:  # the even/odd folding below pairs b with p - b, which an even p leaves unpaired
        return neuron_frequencies_2d(acts)
    h = (p - 1) // 2
    batch, n = acts.shape[:-3], acts.shape[-1]
    B = math.prod(batch)
    # Transform along b (the blocks are symmetric in a and b, so either axis may go first).
    # cos k is even and sin k odd, so with e_j = x_j + x_{p-j} and o_j = x_j - x_{p-j}
    # (j = 1..h) the const and cos rows read only [x_0, e] and the sin rows only o: two (h+1)-
    # and h-square products instead of one p-square, half the FLOPs of the step that dominates.
    E, O = _even_odd(acts, workspace)  # (B p, h + 1, n), (B p, h, n): per a, along b
    C, S = _even_odd_bases(p, acts.dtype, acts.device)
    Yc = torch.matmul(C, E, out=_buffer(workspace, "fve.yc", E.shape, acts)).view(B, p, h + 1, n)  # const, cos 1..h
    Ys = torch.matmul(S, O, out=_buffer(workspace, "fve.ys", O.shape, acts)).view(B, p, h, n)  # sin 1..h
    # Centring only moves the const row (the other basis rows sum to zero over b).
    mean = Yc[:, :, 0].sum(1) / p**1.5  # (B, n): row const is sum_b x[a, b] / sqrt(p)
    Yc[:, :, 0] -= math.sqrt(p) * mean[:, None, :]
    # Along a, only what the blocks need: all of row const, and for the rows cos k and sin k
    # the components g in {const, cos k, sin k} (F's rows 0, 2k-1, 2k).
    F = fourier_basis(p, dtype=acts.dtype).to(acts.device)
    row0 = (F @ Yc[:, :, 0]).square()  # (B, g, n), g in F's order
    k = torch.arange(1, h + 1, device=F.device)
    rows = F[torch.stack([torch.zeros_like(k), 2 * k - 1, 2 * k], dim=1)]  # (h, 3, a)
    z, total = _fold_a(Yc, Ys, rows)  # (B, k, n); Parseval: total is the centred energy
    block = einops.reduce(row0[:, 1:], "B (k t) n -> B n k", "sum", t=2) + einops.rearrange(z, "B k n -> B n k")
    fve = block / total.clamp_min(torch.finfo(total.dtype).tiny)[..., None]
    return NeuronFrequencies(fve=fve.reshape(*batch, *fve.shape[1:]), variance=total.reshape(*batch, -1))


def _buffer(workspace: "Workspace | None", name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    if workspace is not None:
        return workspace.get(name, shape, like)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


@lru_cache(maxsize=8)
def _even_odd_bases(p: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``C`` (h+1, h+1): [x_0, e_1..e_h] -> [const, cos 1..h]; ``S`` (h, h): [o_1..o_h] -> [sin 1..h]."""
    F, h = fourier_basis(p), (p - 1) // 2
    cos_rows = [0, *range(1, p, 2)]
    return (
        F[cos_rows, : h + 1].to(dtype=dtype, device=device).contiguous(),
        F[2::2, 1 : h + 1].to(dtype=dtype, device=device).contiguous(),
    )


def _even_odd(acts: Float[Tensor, "*batch p p n"], workspace: "Workspace | None") -> tuple[Tensor, Tensor]:
    """Per ``a``: ``[x_0, x_j + x_{p-j}]`` and ``[x_j - x_{p-j}]`` over ``b`` (j = 1..h), as (B p, h+1, n) and (B p, h, n)."""
    p, n = acts.shape[-2], acts.shape[-1]
    h = (p - 1) // 2
    x = acts.reshape(-1, p, p, n)
    B = x.shape[0]
    E = _buffer(workspace, "fve.e", (B * p, h + 1, n), acts)
    O = _buffer(workspace, "fve.o", (B * p, h, n), acts)
    rows = _row_view(x)
    if rows is not None and acts.dtype == torch.float32:
        from grokscope.analysis.fourier.measure_kernels import even_odd

        even_odd(rows.numpy(), p, n, E.numpy(), O.numpy())
        return E, O
    x = x.reshape(B * p, p, n)
    front, back = x[:, 1 : h + 1], x.flip(1)[:, :h]  # b = 1..h and p-1..h+1
    E[:, 0] = x[:, 0]
    torch.add(front, back, out=E[:, 1:])
    torch.sub(front, back, out=O)
    return E, O


def _row_view(x: Float[Tensor, "B p p n"]) -> Tensor | None:
    """``x`` as a 2D CPU array of its ``(a, b)`` rows (``(B p p, stride)``, first ``n`` columns used), if it is one."""
    from grokscope.models.grok1l.paths import fused_available

    B, p, _, _n = x.shape
    s = x.stride(2)
    if x.stride(3) != 1 or x.stride(1) != p * s or x.stride(0) != p * p * s or not fused_available(x.device.type):
        return None
    try:
        return x.as_strided((B * p * p, s), (s, 1))
    except RuntimeError:  # the last row's tail would run past the storage
        return None


def _fold_a(
    Yc: Float[Tensor, "B a h1 n"], Ys: Float[Tensor, "B a h n"], rows: Float[Tensor, "h 3 a"]
) -> tuple[Float[Tensor, "B h n"], Float[Tensor, "B n"]]:
    """``sum_g (rows[k, g] . Y[:, :, f_k])^2`` summed over the cos and sin row of each k, and ``sum Y^2`` per neuron.

    One numba pass over ``Yc`` and ``Ys`` (float32 on CPU; float64 energies), else two batched
    products and a square-and-sum.
    """
    from grokscope.models.grok1l.paths import fused_available

    if Yc.dtype == torch.float32 and fused_available(Yc.device.type) and Yc.is_contiguous() and Ys.is_contiguous():
        from grokscope.analysis.fourier.measure_kernels import fold_a

        B, n, h = Yc.shape[0], Yc.shape[-1], Ys.shape[2]
        zc, zs = (torch.empty(B, h, n, dtype=Yc.dtype) for _ in range(2))
        ec, es = torch.empty(B, h + 1, n, dtype=torch.float64), torch.empty(B, h, n, dtype=torch.float64)
        rows_np = rows.contiguous().numpy()
        fold_a(Yc.numpy(), rows_np, 1, zc.numpy(), ec.numpy())
        fold_a(Ys.numpy(), rows_np, 0, zs.numpy(), es.numpy())
        return zc + zs, (ec.sum(1) + es.sum(1)).to(Yc.dtype)
    z = torch.matmul(rows, Yc[:, :, 1:].transpose(1, 2)).square_().sum(-2) + torch.matmul(
        rows, Ys.transpose(1, 2)
    ).square_().sum(-2)
    return z, Yc.square().sum((1, 2)) + Ys.square().sum((1, 2))


def neuron_frequencies_2d(acts: Float[Tensor, "*batch p p n_neurons"]) -> NeuronFrequencies:
    """The same as :func:`neuron_frequencies` the direct way (full 2D transform, then block sums)."""
    p = acts.shape[-2]
    centred = acts - acts.mean(dim=(-3, -2), keepdim=True)
    energy = fourier_2d(centred, fourier_basis(p, dtype=acts.dtype)).square()  # (..., f, g, n)
    edge_rows = einops.reduce(energy[..., 0, 1:, :], "... (k t) n -> ... n k", "sum", t=2)
    edge_cols = einops.reduce(energy[..., 1:, 0, :], "... (k t) n -> ... n k", "sum", t=2)
    corners = einops.reduce(energy[..., 1:, 1:, :], "... (k t) (l u) n -> ... n k l", "sum", t=2, u=2)
    block = edge_rows + edge_cols + corners.diagonal(dim1=-2, dim2=-1)
    total = einops.reduce(energy, "... f g n -> ... n", "sum")
    return NeuronFrequencies(fve=block / total.clamp_min(torch.finfo(total.dtype).tiny)[..., None], variance=total)


def sum_directions(
    p: int, freqs: list[int] | tuple[int, ...], *, op: str = "add", dtype: torch.dtype = torch.float64
) -> Float[Tensor, "n_dirs pp"]:
    """Unit vectors over the a-major grid: ``cos(w_k (a+b))`` and ``sin(w_k (a+b))`` for each ``k``.

    Rows ``2i`` and ``2i+1`` belong to ``freqs[i]``. In the 2D basis these are
    ``(cos k ⊗ cos k - sin k ⊗ sin k)/sqrt2`` and ``(sin k ⊗ cos k + cos k ⊗ sin k)/sqrt2``.
    For ``op="sub"`` the directions are ``cos/sin(w_k (a-b))``, where the same circuit lives.

    >>> U = sum_directions(7, [2, 3])
    >>> tuple(U.shape), bool(torch.allclose(U @ U.T, torch.eye(4, dtype=U.dtype)))
    ((4, 49), True)
    """
    check_modulus(p)
    if op not in ("add", "sub"):
        raise ValueError(f"sum directions exist for op add or sub only, got {op!r}")
    x = torch.arange(p, dtype=torch.float64)
    s = x[:, None] + x[None, :] if op == "add" else x[:, None] - x[None, :]
    k = torch.tensor(list(freqs), dtype=torch.float64)
    angles = 2 * math.pi * k[:, None, None] * s[None] / p  # (n_k, p, p)
    dirs = torch.stack([angles.cos(), angles.sin()], dim=1) / math.sqrt(p * p / 2)
    nyquist = 2 * k == p  # even p: cos(pi s) = +-1 has norm p, sin(pi s) is zero
    dirs[nyquist, 0] *= math.sqrt(0.5)
    dirs[nyquist, 1] = 0.0
    return einops.rearrange(dirs, "k t a b -> (k t) (a b)").to(dtype)


def cluster_sizes(nf: NeuronFrequencies, rule: KeyFrequencyRule = KeyFrequencyRule()) -> Int[Tensor, "*batch n_freq"]:
    """How many live neurons each frequency dominates (FVE >= ``rule.min_fve``)."""
    live = nf.variance > rule.dead_tol * nf.variance.amax(dim=-1, keepdim=True).clamp_min(1e-30)
    member: Bool[Tensor, "*batch n_neurons n_freq"] = (nf.fve >= rule.min_fve) & live[..., None]
    return member.sum(dim=-2)


def live_neurons(nf: NeuronFrequencies, rule: KeyFrequencyRule = KeyFrequencyRule()) -> Int[Tensor, "*batch"]:
    return (nf.variance > rule.dead_tol * nf.variance.amax(dim=-1, keepdim=True).clamp_min(1e-30)).sum(dim=-1)


def key_frequency_mask(
    nf: NeuronFrequencies, rule: KeyFrequencyRule = KeyFrequencyRule()
) -> Bool[Tensor, "*batch n_freq"]:
    """``mask[..., k-1]`` is True when ``k`` is a key frequency by ``rule`` (see :class:`KeyFrequencyRule`)."""
    sizes = cluster_sizes(nf, rule)
    need = torch.clamp(rule.min_share * live_neurons(nf, rule).to(torch.float64), min=rule.min_neurons)
    return sizes >= need[..., None]


def key_frequencies(nf: NeuronFrequencies, rule: KeyFrequencyRule = KeyFrequencyRule()) -> list[int]:
    """The key frequencies of ONE model (no batch axis), ascending."""
    if nf.fve.ndim != 2:
        raise ValueError(f"key_frequencies takes one model's NeuronFrequencies, got fve of shape {tuple(nf.fve.shape)}")
    return [int(k) + 1 for k in key_frequency_mask(nf, rule).nonzero().flatten()]


def strong_frequencies(freq_norms: Float[Tensor, " n_freq"], *, rel: float = 0.25) -> list[int]:
    """Frequencies whose norm is at least ``rel`` times the largest (a weights-only rule, used as a cross-check).

    On an embedding this is the rule of TransformerLens's newer grokking demo ("> max/4").

    >>> strong_frequencies(torch.tensor([0.4, 0.0, 2.0, 1.0]))
    [3, 4]
    """
    if freq_norms.ndim != 1:
        raise ValueError("strong_frequencies takes one vector of frequency norms")
    return [int(k) + 1 for k in (freq_norms >= rel * freq_norms.max()).nonzero().flatten()]


def energy_share(freq_norms: Float[Tensor, "*batch n_freq"], freqs: list[int]) -> Float[Tensor, "*batch"]:
    """Fraction of the non-constant Fourier energy (squared norms) carried by ``freqs``.

    >>> round(energy_share(torch.tensor([1.0, 0.0, 2.0]), [3]).item(), 4)
    0.8
    """
    sq = freq_norms.square()
    idx = torch.tensor([k - 1 for k in freqs], dtype=torch.long, device=sq.device)
    return sq.index_select(-1, idx).sum(-1) / sq.sum(-1).clamp_min(torch.finfo(sq.dtype).tiny)
