"""Progress measures: hand-built answers, and the vectorized pass against the plain per-checkpoint way."""

import math

import numpy as np
import pytest
import torch

from grokscope.analysis.fourier.basis import sum_directions
from grokscope.analysis.fourier.progress_measures import (
    cross_entropy,
    excluded_logits,
    gini,
    progress_measures,
    restricted_logits,
)
from grokscope.models.grok1l.params import as_params
from tests.analysis import reference


def fourier_logits(p: int, alphas: dict[int, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """``L[(a, b), c] = sum_k alpha_k cos(w_k (a + b - c))``: the trained model's algorithm, exactly."""
    a, b = (t.flatten() for t in torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij"))
    c = torch.arange(p)
    s = (a + b)[:, None] - c[None, :]
    L = sum(alpha * torch.cos(2 * math.pi * k * s.double() / p) for k, alpha in alphas.items())
    return L, (a + b) % p


def test_restricted_loss_of_a_pure_fourier_model_equals_its_full_loss():
    p, alphas = 23, {3: 12.0, 7: 10.0, 10: 9.0}
    L, labels = fourier_logits(p, alphas)
    U = sum_directions(p, list(alphas))
    torch.testing.assert_close(restricted_logits(L, U), L, atol=1e-10, rtol=0)
    full = cross_entropy(L, labels)
    assert full < 0.1  # the algorithm is right: the true class wins everywhere
    torch.testing.assert_close(cross_entropy(restricted_logits(L, U), labels), full, atol=1e-12, rtol=1e-10)
    # Keeping too few frequencies must hurt: the measure can fail.
    assert cross_entropy(restricted_logits(L, U[:2]), labels) > full + 0.5


def test_subtraction_uses_difference_directions():
    p, alphas = 23, {2: 12.0, 9: 10.0, 11: 9.0}
    a, b = (t.flatten() for t in torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij"))
    s = (a - b)[:, None] - torch.arange(p)[None, :]
    L = sum(alpha * torch.cos(2 * math.pi * k * s.double() / p) for k, alpha in alphas.items())
    labels = (a - b) % p
    sub, add = sum_directions(p, list(alphas), op="sub"), sum_directions(p, list(alphas))
    torch.testing.assert_close(restricted_logits(L, sub), L, atol=1e-10, rtol=0)
    assert cross_entropy(restricted_logits(L, add), labels) > cross_entropy(L, labels) + 1  # wrong directions


def test_excluded_loss_of_a_pure_fourier_model_is_uniform():
    p, alphas = 23, {3: 12.0, 7: 10.0, 10: 9.0}
    L, labels = fourier_logits(p, alphas)
    U = sum_directions(p, list(alphas))
    train = torch.arange(0, p * p, 3)
    excluded = excluded_logits(L, U)[train]
    torch.testing.assert_close(cross_entropy(excluded, labels[train]), torch.tensor(math.log(p), dtype=torch.float64))
    # A memorizing extra term on the training pairs survives the exclusion and lowers the loss.
    memo = torch.zeros_like(L)
    memo[train, labels[train]] = 8.0
    assert cross_entropy(excluded_logits(L + memo, U)[train], labels[train]) < math.log(p) - 1


def test_cross_entropy_is_exact_for_tiny_losses_in_float32():
    gen = torch.Generator().manual_seed(0)
    L = torch.randn(3, 200, 11, generator=gen, dtype=torch.float64) * 3
    labels = torch.randint(0, 11, (200,), generator=gen)
    L[:, torch.arange(100), labels[:100]] += 30  # the first half right by a wide margin: losses ~1e-12
    ref = -L.log_softmax(-1).gather(-1, labels.expand(3, -1)[..., None]).squeeze(-1)
    for sub in (slice(0, 100), slice(100, 200), slice(0, 200)):  # tiny, large, and mixed losses
        ours = cross_entropy(L[:, sub].float(), labels[sub])
        torch.testing.assert_close(ours, ref[:, sub].mean(-1), rtol=1e-5, atol=0)
        # float64 log_softmax itself is only good to ~1e-16 / loss here; log1p is better.
        torch.testing.assert_close(cross_entropy(L[:, sub], labels[sub]), ref[:, sub].mean(-1), rtol=1e-6, atol=0)
    # float32 log_softmax would lose the tiny ones entirely:
    naive = -L[:, :100].float().log_softmax(-1).gather(-1, labels[:100].expand(3, -1)[..., None]).mean()
    assert abs(naive.item() - ref[:, :100].mean().item()) > 0.2 * ref[:, :100].mean().item()


def test_gini_of_one_hot_and_flat():
    n = 97
    one_hot = torch.zeros(n, dtype=torch.float64)
    one_hot[17] = 2.5
    assert gini(one_hot).item() == pytest.approx(1 - 1 / n)
    assert gini(torch.full((n,), 0.3, dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-12)
    x = torch.rand(3, n, dtype=torch.float64)
    assert torch.allclose(gini(x), torch.tensor([reference.gini(r.numpy()) for r in x], dtype=torch.float64))
    assert gini(x).min() > 0 and gini(x).max() < gini(one_hot)


def _vectorized(run, dtype=torch.float32, steps=None, **kw):
    stack = run.stack(steps=steps)
    data = run.task.dataset()
    params = as_params(stack.params).map(lambda t: t.to(dtype))
    return progress_measures(stack.steps, params, run.task.p, data.labels, data.train_idx, data.test_idx, **kw)


COLUMNS = [
    "train_loss",
    "test_loss",
    "train_acc",
    "test_acc",
    "restricted_loss",
    "excluded_loss",
    "gini_embed",
    "gini_logit_map",
    "sq_weights",
    "sq_embed",
    "sq_attn",
]


def test_vectorized_measures_agree_with_the_plain_per_checkpoint_loop(tiny_run):
    steps = tiny_run.steps[::2] + tiny_run.steps[-1:]  # every other checkpoint keeps the test quick
    ours = _vectorized(tiny_run, dtype=torch.float64, steps=steps)
    keys = ours.key_frequencies
    assert 1 <= len(keys) <= 6, keys  # the short run has grokked: a handful of frequencies
    ref = reference.run_measures(tiny_run, keys, dtype=torch.float64, steps=steps)
    assert [r["step"] for r in ref] == list(ours.measures.index)
    for col in COLUMNS + [f"excluded_loss_k{k}" for k in keys]:
        np.testing.assert_allclose(
            ours.measures[col].to_numpy(), [r[col] for r in ref], rtol=1e-7, atol=1e-12, err_msg=col
        )
    fve_last = ref[-1]["neuron_fve"]
    np.testing.assert_allclose(ours.final.neuron_fve, fve_last, atol=1e-9)
    for name, track in [
        ("logit_share", ours.tracks.logit_share),
        ("embed_norms", ours.tracks.embed_norms),
        ("logit_map_norms", ours.tracks.logit_map_norms),
    ]:
        np.testing.assert_allclose(track, np.stack([r[name] for r in ref]), rtol=1e-7, atol=1e-10, err_msg=name)
    np.testing.assert_array_equal(ours.tracks.neuron_clusters, np.stack([r["neuron_clusters"] for r in ref]))
    np.testing.assert_array_equal(ours.measures["restricted_acc"].to_numpy(), [r["restricted_acc"] for r in ref])


def test_float32_pass_matches_the_float32_hooked_transformer(tiny_run):
    ours = _vectorized(tiny_run)  # the checkpoints' own dtype, as the CLI runs it
    steps = tiny_run.steps[::8] + [tiny_run.steps[-1]]
    data = tiny_run.task.dataset()
    for step in steps:
        r = reference.checkpoint_measures(
            tiny_run.model(step),
            23,
            data.labels.numpy(),
            data.train_idx.numpy(),
            data.test_idx.numpy(),
            ours.key_frequencies,
        )
        row = ours.measures.loc[step]
        for col in COLUMNS:
            assert row[col] == pytest.approx(r[col], rel=2e-3, abs=1e-6), (step, col)


def test_chunking_does_not_change_the_measures(tiny_run):
    steps = tiny_run.steps[-7:]
    big = _vectorized(tiny_run, steps=steps).measures
    small = _vectorized(tiny_run, steps=steps, memory_budget=1.0).measures  # one checkpoint per chunk
    np.testing.assert_allclose(small.to_numpy(), big.to_numpy(), rtol=1e-5, atol=1e-9)


def test_vocabulary_mismatch_is_a_clear_error(tiny_run):
    stack = tiny_run.stack(steps=tiny_run.steps[-2:])
    data = tiny_run.task.dataset()
    with pytest.raises(ValueError, match="p=29 does not match the checkpoints' vocabulary.*p=23"):
        progress_measures(stack.steps, stack.params, 29, data.labels, data.train_idx, data.test_idx)
