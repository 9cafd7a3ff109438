"""The Fourier basis, projections and key-frequency rule against answers known by construction."""

import math

import pytest
import torch

from grokscope.analysis.fourier.basis import (
    basis_names,
    embed_component_norms,
    fourier_1d,
    fourier_2d,
    fourier_basis,
    frequency_norms,
    key_frequencies,
    logit_map_component_norms,
    n_frequencies,
    neuron_frequencies,
    neuron_frequencies_2d,
    strong_frequencies,
    sum_directions,
)
from grokscope.analysis.fourier.results import KeyFrequencyRule
from grokscope.models.grok1l.grid import grid_cache
from grokscope.models.grok1l.params import Grok1LParams
from tests.analysis import reference

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


@pytest.mark.parametrize("p", [3, 23, 97, 113])
def test_basis_is_orthonormal_and_named(p):
    F = fourier_basis(p)
    torch.testing.assert_close(F @ F.T, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(F.T @ F, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)
    names = basis_names(p)
    assert len(names) == p and names[:3] == ["const", "cos 1", "sin 1"] and names[-1] == f"sin {(p - 1) // 2}"
    torch.testing.assert_close(F, torch.from_numpy(reference.basis(p)), atol=1e-12, rtol=0)
    x = torch.arange(p, dtype=torch.float64)
    k = (p - 1) // 2
    torch.testing.assert_close(F[2 * k - 1], torch.cos(2 * math.pi * k * x / p) / math.sqrt(p / 2))


@pytest.mark.parametrize("p", [10, 22, 96])
def test_an_even_modulus_has_the_frequency_p_over_2_with_a_zero_sin_row(p):
    """The discrete-log view of mul/div runs works mod p - 1, which is even."""
    F = fourier_basis(p)
    assert F.shape == (p + 1, p) and torch.count_nonzero(F[-1]) == 0
    live = F[:-1]
    torch.testing.assert_close(live @ live.T, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(live.T @ live, torch.eye(p, dtype=torch.float64), atol=1e-12, rtol=0)
    x = torch.arange(p, dtype=torch.float64)
    torch.testing.assert_close(F[-2], (-1.0) ** x / math.sqrt(p))
    assert n_frequencies(p) == p // 2
    # Parseval over the pairs, and the even grid's neuron frequencies agree with the direct 2D way.
    y = torch.randn(p, 7, dtype=torch.float64)
    torch.testing.assert_close(fourier_1d(y, F).square().sum(), y.square().sum())
    a = torch.arange(p, dtype=torch.float64)
    for k in (1, 3, p // 2):  # a neuron of one frequency, the Nyquist one included, is all that frequency
        acts = torch.cos(2 * math.pi * k * (a[:, None] + a[None, :]) / p + 0.3)[..., None]
        fve = neuron_frequencies(acts).fve[0]
        assert fve[k - 1] == pytest.approx(1.0, abs=1e-12) and fve.sum() == pytest.approx(1.0, abs=1e-12)
    # Sum directions stay unit vectors (the zero sin of p/2 aside) and orthogonal.
    U = sum_directions(p, list(range(1, p // 2 + 1)))
    gram = U @ U.T
    torch.testing.assert_close(gram.diagonal()[:-1], torch.ones(p - 1, dtype=torch.float64))
    assert gram[-1, -1] == 0
    torch.testing.assert_close(gram - torch.diag(gram.diagonal()), torch.zeros_like(gram), atol=1e-12, rtol=0)


def test_a_modulus_below_3_is_refused():
    with pytest.raises(ValueError, match="modulus p >= 3"):
        fourier_basis(2)


def test_2d_transform_is_the_outer_product_transform_and_invertible():
    p = 11
    F = fourier_basis(p)
    x = torch.randn(2, p, p, 5, dtype=torch.float64)
    ours = fourier_2d(x, F)
    ref = torch.einsum("fa,gb,cabn->cfgn", F, F, x)
    torch.testing.assert_close(ours, ref)
    back = torch.einsum("fa,gb,cfgn->cabn", F, F, ours)  # F is orthogonal: F^T undoes it
    torch.testing.assert_close(back, x)
    # 1D: along the second-to-last axis, whatever leads.
    torch.testing.assert_close(fourier_1d(x[0], F), torch.einsum("fb,abn->afn", F, x[0]))


def test_sum_directions_are_orthonormal_and_match_the_basis_formula():
    p, freqs = 13, [2, 5]
    U = sum_directions(p, freqs)
    torch.testing.assert_close(U @ U.T, torch.eye(4, dtype=torch.float64), atol=1e-12, rtol=0)
    F = fourier_basis(p)
    for i, k in enumerate(freqs):
        c, s = F[2 * k - 1], F[2 * k]
        torch.testing.assert_close(U[2 * i], ((torch.outer(c, c) - torch.outer(s, s)) / math.sqrt(2)).flatten())
        torch.testing.assert_close(U[2 * i + 1], ((torch.outer(s, c) + torch.outer(c, s)) / math.sqrt(2)).flatten())
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    sub = sum_directions(p, [3], op="sub")
    direction = torch.cos(2 * math.pi * 3 * (a - b).double() / p).flatten()
    torch.testing.assert_close(sub[0], direction / direction.norm())


def planted_embedding(p: int, freqs: list[int], d_model: int = 32, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """(p + 1, d_model) embedding whose token rows are cos/sin of ``freqs`` with random phases and sizes."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.arange(p, dtype=torch.float64)
    W = noise * torch.randn(p + 1, d_model, generator=gen, dtype=torch.float64)
    for i, k in enumerate(freqs):
        phase, size = 2 * math.pi * torch.rand(1, generator=gen).item(), 1 + torch.rand(1, generator=gen).item()
        W[:p, 2 * i] += size * torch.cos(2 * math.pi * k * x / p + phase)
        W[:p, 2 * i + 1] += size * torch.sin(2 * math.pi * k * x / p + phase)
    W[p] = torch.randn(d_model, generator=gen, dtype=torch.float64)  # '=' row: must be ignored
    return W


def test_planted_embedding_gives_back_its_frequencies():
    p, planted = 31, [3, 7, 12]
    W_E = planted_embedding(p, planted, noise=0.02)
    norms = embed_component_norms(W_E, p)
    assert strong_frequencies(frequency_norms(norms)) == planted
    # Parseval: the component norms hold all of the embedding's energy (the '=' row excluded).
    torch.testing.assert_close(norms.square().sum(), W_E[:p].square().sum())


def planted_model(p: int, freqs: list[int], *, n_noise: int = 40, seed: int = 0) -> dict[str, torch.Tensor]:
    """grok1l parameters whose MLP neurons are ReLUs of cos(w_k a + phi) + cos(w_k b + psi), k in ``freqs``.

    Attention is uniform (zero queries and keys); head 0 copies the embedding, so the MLP sees
    ``E[a] + E[b]``. A few neurons read random directions instead: they must not make clusters.
    """
    gen = torch.Generator().manual_seed(seed)
    d_model, n_heads, d_head, d_mlp = 128, 4, 32, 512
    x = torch.arange(p, dtype=torch.float64)
    W_E = torch.zeros(p + 1, d_model, dtype=torch.float64)
    for i, k in enumerate(freqs):  # dims 4i..4i+3: cos/sin of a-ish and b-ish phases
        W_E[:p, 2 * i] = torch.cos(2 * math.pi * k * x / p)
        W_E[:p, 2 * i + 1] = torch.sin(2 * math.pi * k * x / p)
    params = {
        "embed.W_E": W_E,
        "pos_embed.W_pos": torch.zeros(3, d_model, dtype=torch.float64),
        "blocks.0.attn.W_Q": torch.zeros(n_heads, d_model, d_head, dtype=torch.float64),
        "blocks.0.attn.W_K": torch.zeros(n_heads, d_model, d_head, dtype=torch.float64),
        "blocks.0.attn.W_V": torch.zeros(n_heads, d_model, d_head, dtype=torch.float64),
        "blocks.0.attn.W_O": torch.zeros(n_heads, d_head, d_model, dtype=torch.float64),
    }
    params["blocks.0.attn.W_V"][0, :d_head] = torch.eye(d_head, dtype=torch.float64)
    params["blocks.0.attn.W_O"][0, :, :d_head] = 3 * torch.eye(d_head, dtype=torch.float64)  # undo the 1/3
    for n in "QKV":
        params[f"blocks.0.attn.b_{n}"] = torch.zeros(n_heads, d_head, dtype=torch.float64)
    params["blocks.0.attn.b_O"] = torch.zeros(d_model, dtype=torch.float64)
    # E[a] + E[b] holds cos(w a) + cos(w b) in dim 2i: a neuron reading (cos phi, -sin phi) of dims
    # (2i, 2i+1) computes cos(w a + phi) + cos(w b + phi).
    W_in = torch.zeros(d_model, d_mlp, dtype=torch.float64)
    n_planted = d_mlp - n_noise
    for n in range(n_planted):
        i = n % len(freqs)
        phi = 2 * math.pi * torch.rand(1, generator=gen).item()
        W_in[2 * i, n], W_in[2 * i + 1, n] = math.cos(phi), -math.sin(phi)
    W_in[:, n_planted:] = torch.randn(d_model, n_noise, generator=gen, dtype=torch.float64) * 0.1
    params["blocks.0.mlp.W_in"] = W_in
    params["blocks.0.mlp.b_in"] = torch.zeros(d_mlp, dtype=torch.float64)
    params["blocks.0.mlp.W_out"] = torch.randn(d_mlp, d_model, generator=gen, dtype=torch.float64) * 0.05
    params["blocks.0.mlp.b_out"] = torch.zeros(d_model, dtype=torch.float64)
    params["unembed.W_U"] = torch.randn(d_model, p, generator=gen, dtype=torch.float64) * 0.05
    params["unembed.b_U"] = torch.zeros(p, dtype=torch.float64)
    return params


@pytest.mark.parametrize("p,planted", [(23, [4, 9]), (31, [2, 7, 11, 13]), (97, [14, 35, 41])])
def test_planted_model_gives_back_exactly_its_key_frequencies(p, planted):
    params = {k: v[None] for k, v in planted_model(p, planted).items()}
    post = grid_cache(Grok1LParams.from_state(params), p).mlp_post[0]
    nf = neuron_frequencies(post)
    assert key_frequencies(nf) == planted
    best, _ = nf.best
    assert (best[:-40] > 0.9).all()  # ReLU(cos + cos) keeps ~96% of its variance in its frequency
    # The weights-only cross-check agrees: W_E carries exactly those frequencies.
    assert strong_frequencies(frequency_norms(embed_component_norms(params["embed.W_E"][0], p))) == planted


def test_key_frequency_rule_ignores_small_clusters_and_noise():
    p, planted = 23, [4, 9]
    params = planted_model(p, planted, n_noise=0)
    # Move 5 neurons (< 2% of 512) to frequency 6: too few to be a key frequency.
    x = torch.arange(p, dtype=torch.float64)
    params["embed.W_E"][:p, 10] = torch.cos(2 * math.pi * 6 * x / p)
    params["blocks.0.mlp.W_in"][:, :5] = 0
    params["blocks.0.mlp.W_in"][10, :5] = 1.0
    post = grid_cache(Grok1LParams.from_state(params).map(lambda t: t[None]), p).mlp_post[0]
    nf = neuron_frequencies(post)
    assert key_frequencies(nf) == planted
    assert key_frequencies(nf, KeyFrequencyRule(min_share=0.0, min_neurons=5)) == [4, 6, 9]
    # Pure noise: no key frequency at all.
    noise = torch.randn(p, p, 512, generator=torch.Generator().manual_seed(1), dtype=torch.float64).relu()
    assert key_frequencies(neuron_frequencies(noise)) == []


def test_fast_neuron_fve_equals_full_2d_transform_and_reference():
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(2, 13, 13, 7, generator=gen, dtype=torch.float64).relu()
    fast, direct = neuron_frequencies(acts), neuron_frequencies_2d(acts)
    torch.testing.assert_close(fast.fve, direct.fve)
    torch.testing.assert_close(fast.variance, direct.variance)
    ref = reference.neuron_fve(acts[1].reshape(13 * 13, 7).numpy(), 13)
    torch.testing.assert_close(fast.fve[1], torch.from_numpy(ref))


def test_logit_map_norms_are_per_output_component():
    p = 11
    F = fourier_basis(p)
    W_L = torch.zeros(6, p, dtype=torch.float64)
    W_L[2] = 3 * F[2 * 4]  # neuron 2 writes sin 4 into the logits
    norms = logit_map_component_norms(W_L)
    expected = torch.zeros(p, dtype=torch.float64)
    expected[8] = 3.0
    torch.testing.assert_close(norms, expected, atol=1e-12, rtol=0)
    assert strong_frequencies(frequency_norms(norms)) == [4]
