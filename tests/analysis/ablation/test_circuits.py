"""Circuit and component ablations: known answers on hand-built tables and models, hook hygiene,
and the vectorized pass over checkpoints against the per-model hook path."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from grokscope.analysis.ablation.circuits import (
    CircuitAblation,
    DirectionAblation,
    HeadAblation,
    NeuronAblation,
    ablated,
    embedding_frequency_directions,
    frequency_ablation,
    hooked_logits,
    hooked_metrics,
    neurons_by_frequency,
    removed_part,
    replace_part,
    resample_permutation,
)
from grokscope.analysis.ablation.over_checkpoints import (
    ablate_run,
    ablation_table,
    add_shares,
    frequency_importance,
    share_crossings,
)
from grokscope.analysis.fourier.basis import NeuronFrequencies, sum_directions
from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.models import hooks
from grokscope.models.build import build_model, load_state_, model_state, tl_major
from grokscope.store.run import Run
from grokscope.tasks import ModularTask

P, KEYS = 13, (2, 5)


def grid_table(p: int, keys, d: int, *, seed: int) -> dict[str, torch.Tensor]:
    """A float64 table over the a-major grid, ``(p^2, d)``: a constant, a key-frequency part and a lookup part.

    The Fourier part is a random mix of ``cos/sin(w_k (a+b))`` per column; the lookup part is random
    noise with its constant and key-frequency components taken out, so the three parts are exactly
    orthogonal along the pair axis and each ablation must return exactly the parts it keeps.
    """
    gen = torch.Generator().manual_seed(seed)
    U = sum_directions(p, list(keys))  # (2|K|, p^2), float64
    const = torch.randn(1, d, generator=gen, dtype=torch.float64).expand(p * p, d)
    fourier = U.T @ (3 * torch.randn(len(U), d, generator=gen, dtype=torch.float64))
    noise = torch.randn(p * p, d, generator=gen, dtype=torch.float64)
    lookup = noise - noise.mean(0) - U.T @ (U @ noise)
    return {"const": const, "fourier": fourier, "lookup": lookup, "all": const + fourier + lookup}


# ---------------------------------------------------------------------------------------------
# Known answers on tables.


def test_each_circuit_ablation_removes_exactly_its_part_of_a_table():
    t = grid_table(P, KEYS, d=P, seed=0)
    U = sum_directions(P, list(KEYS))
    for method in ("zero", "mean"):
        gen = replace_part(t["all"], removed_part(t["all"], U, "generalize"), method)
        mem = replace_part(t["all"], removed_part(t["all"], U, "memorize"), method)
        torch.testing.assert_close(gen, t["const"] + t["lookup"], atol=1e-12, rtol=0)
        torch.testing.assert_close(mem, t["const"] + t["fourier"], atol=1e-12, rtol=0)
    # Resample: the removed part comes from another pair.
    perm = resample_permutation(P * P, 3)
    res = replace_part(t["all"], removed_part(t["all"], U, "generalize"), "resample", perm)
    torch.testing.assert_close(res, t["const"] + t["lookup"] + t["fourier"][perm], atol=1e-12, rtol=0)


def test_circuits_are_the_progress_measures_excluded_and_restricted_logits():
    from grokscope.analysis.fourier.progress_measures import excluded_logits, restricted_logits

    L = grid_table(P, KEYS, d=P, seed=1)["all"] + torch.randn(P * P, P, dtype=torch.float64)
    U = sum_directions(P, list(KEYS))
    torch.testing.assert_close(L - removed_part(L, U, "generalize"), excluded_logits(L, U), atol=1e-12, rtol=0)
    torch.testing.assert_close(L - removed_part(L, U, "memorize"), restricted_logits(L, U), atol=1e-12, rtol=0)


def test_bad_choices_are_value_errors():
    U = sum_directions(P, list(KEYS))
    x = torch.zeros(P * P, 3)
    with pytest.raises(ValueError, match="unknown circuit 'both'"):
        removed_part(x, U, "both")
    with pytest.raises(ValueError, match="unknown ablation method 'noise'"):
        replace_part(x, x, "noise")
    # A wrong Literal is a ValueError from __post_init__, or the test run's runtime type check first.
    with pytest.raises((ValueError, TypeError), match="site"):
        CircuitAblation(circuit="generalize", key_freqs=KEYS, p=P, site="attention")
    with pytest.raises(ValueError, match="subset of 1..6"):
        CircuitAblation(circuit="generalize", key_freqs=(7,), p=P)


# ---------------------------------------------------------------------------------------------
# The hook path on real and hand-built models.


@pytest.fixture(scope="module")
def model():
    return build_model("grok1l", ModularTask(p=P), seed=0).to(torch.float64, print_details=False)


@pytest.fixture(scope="module")
def data():
    return ModularTask(p=P).dataset()


def no_hooks_left(model) -> bool:
    return all(not hp.fwd_hooks and not hp.bwd_hooks for hp in model.hook_dict.values())


def test_ablating_nothing_reproduces_the_plain_forward_exactly(model, data):
    plain = model(data.tokens())
    with ablated(model) as m:
        assert torch.equal(m(data.tokens()), plain)
    for empty in (HeadAblation(heads=()), NeuronAblation(neurons=())):
        with ablated(model, empty):
            assert torch.equal(model(data.tokens()), plain)
    assert no_hooks_left(model)


@pytest.mark.skipif(
    tl_major() >= 4,
    reason="TransformerLens 4.x's bridge feeds an edit at hook_resid_mid to the MLP "
    "only, not to the residual stream's skip path, so the direct path cannot be planted there",
)
def test_hand_built_model_each_ablation_removes_exactly_its_part(model, data):
    """Plant known activations: neurons = const + Fourier + lookup, and the same kind of table as
    the attention/embedding path's residual; then each circuit ablation must keep exactly its parts."""
    cfg = model.cfg
    post = grid_table(P, KEYS, cfg.d_mlp, seed=2)
    resid = grid_table(P, KEYS, cfg.d_model, seed=3)

    def plant(table):
        def hook(x, hook):
            x = x.clone()
            x[:, -1] = table["all"]
            return x

        return hook

    state = model_state(model)  # the weights in TransformerLens 3.x's layout, whichever version runs
    W_out, b_out = state["blocks.0.mlp.W_out"], state["blocks.0.mlp.b_out"]
    W_U, b_U = state["unembed.W_U"], state["unembed.b_U"]

    def logits_of(neurons, direct):
        return (direct + neurons @ W_out + b_out) @ W_U + b_U

    planted = [(hooks.resid_mid(0), plant(resid)), (hooks.mlp_post(0), plant(post))]
    with torch.no_grad(), model.hooks(fwd_hooks=planted):
        torch.testing.assert_close(hooked_logits(model, data), logits_of(post["all"], resid["all"]))
        for method in ("zero", "mean"):
            for site in ("neurons", "logits"):

                def ablate(circuit, site=site, method=method):
                    return hooked_logits(
                        model, data, CircuitAblation(circuit=circuit, key_freqs=KEYS, p=P, site=site, method=method)
                    )

                # The logits site also removes the direct path's part (by linearity, the same as projecting it).
                direct_gen = resid["all"] if site == "neurons" else resid["const"] + resid["lookup"]
                direct_mem = resid["all"] if site == "neurons" else resid["const"] + resid["fourier"]
                torch.testing.assert_close(
                    ablate("generalize"), logits_of(post["const"] + post["lookup"], direct_gen), atol=1e-9, rtol=1e-9
                )
                torch.testing.assert_close(
                    ablate("memorize"), logits_of(post["const"] + post["fourier"], direct_mem), atol=1e-9, rtol=1e-9
                )
        # A single frequency: only its own Fourier part goes.
        U1 = sum_directions(P, [KEYS[0]])
        only_k0 = U1.T @ (U1 @ post["all"])
        torch.testing.assert_close(
            hooked_logits(model, data, frequency_ablation(KEYS[0], P, site="neurons")),
            logits_of(post["all"] - only_k0, resid["all"]),
            atol=1e-9,
            rtol=1e-9,
        )
    assert no_hooks_left(model)


def test_hooks_are_gone_after_the_call_and_after_an_exception(model, data):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = model(data.tokens())
    abl = CircuitAblation(circuit="memorize", key_freqs=KEYS, p=P)
    with ablated(model, abl, HeadAblation(heads=(1,)), NeuronAblation(neurons=(0, 3), method="mean")):
        assert not no_hooks_left(model)
        assert not torch.equal(model(data.tokens()), plain)
    assert no_hooks_left(model)
    with pytest.raises(RuntimeError, match="boom"), ablated(model, abl):
        raise RuntimeError("boom")
    assert no_hooks_left(model)
    # An error inside a hook (a batch that is not the full grid) also leaves nothing behind.
    with pytest.raises(ValueError, match="all 13\\^2 = 169 pairs"), ablated(model, abl):
        model(data.tokens()[:10])
    assert no_hooks_left(model)
    assert torch.equal(model(data.tokens()), plain)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_unknown_hook_point_is_refused_before_anything_is_added(model):
    with (
        pytest.raises(ValueError, match="no hook point 'blocks.3.mlp.hook_post'"),
        ablated(model, NeuronAblation(neurons=(0,), layer=3)),
    ):
        pass
    assert no_hooks_left(model)


def edited_copy(model, edit):
    """A float64 copy of ``model`` whose weights (TransformerLens 3.x layout, any version) ``edit`` changed."""
    state = {k: v.clone() for k, v in model_state(model).items()}
    with torch.no_grad():
        edit(state)
    clone = build_model("grok1l", ModularTask(p=P), seed=0).to(torch.float64, print_details=False)
    load_state_(clone, state)
    return clone.eval()


def test_zero_ablated_components_equal_models_with_those_weights_zeroed(model, data):
    tokens = data.tokens()

    def zero_head(s):
        s["blocks.0.attn.W_O"][1] = 0

    with ablated(model, HeadAblation(heads=(1,))):
        torch.testing.assert_close(model(tokens), edited_copy(model, zero_head)(tokens), atol=1e-10, rtol=0)

    neurons = (0, 5, 17)

    def zero_neurons(s):
        s["blocks.0.mlp.W_out"][list(neurons)] = 0

    with ablated(model, NeuronAblation(neurons=neurons)):
        torch.testing.assert_close(model(tokens), edited_copy(model, zero_neurons)(tokens), atol=1e-10, rtol=0)

    dirs = embedding_frequency_directions(model_state(model)["embed.W_E"], P, [KEYS[0]])
    Q = torch.linalg.qr(dirs.T).Q  # (d_model, 2)

    def project_embed(s):
        s["embed.W_E"] -= (s["embed.W_E"] @ Q) @ Q.T

    with ablated(model, DirectionAblation(directions=dirs)):
        torch.testing.assert_close(model(tokens), edited_copy(model, project_embed)(tokens), atol=1e-10, rtol=0)


def test_mean_and_resample_ablation_of_neurons(model, data):
    tokens, neurons = data.tokens(), (1, 2, 40)
    _, cache = model.run_with_cache(tokens)
    post, resid = cache[hooks.mlp_post(0)][:, -1], cache[hooks.resid_mid(0)][:, -1]
    mask = torch.zeros(post.shape[-1], dtype=post.dtype)
    mask[list(neurons)] = 1
    perm = resample_permutation(len(tokens), 7)
    mlp = model.blocks[0].mlp
    for method, replaced in (("mean", (post * mask).mean(0, keepdim=True)), ("resample", (post * mask)[perm])):
        want = (resid + (post * (1 - mask) + replaced) @ mlp.W_out + mlp.b_out) @ model.W_U + model.b_U
        got = hooked_logits(model, data, NeuronAblation(neurons=neurons, method=method, seed=7))
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-9)


def test_neurons_grouped_by_dominant_frequency():
    fve = torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.0, 0.0, 0.95], [0.7, 0.2, 0.1]])
    variance = torch.tensor([1.0, 2.0, 1.0, 0.0, 3.0])  # neuron 3 is dead
    groups = neurons_by_frequency(NeuronFrequencies(fve=fve, variance=variance))
    assert groups == {1: (0, 4), 2: (1,)}


# ---------------------------------------------------------------------------------------------
# Shares and crossings.


def test_shares_and_crossings_on_a_hand_made_table():
    p = 10  # chance 0.1, ln p = 2.303
    steps = [0, 100, 200, 300, 400]
    t = pd.DataFrame(
        {
            "train_acc": [0.1, 1.0, 1.0, 1.0, 1.0],
            "train_loss": [math.log(p), 0.01, 0.01, 0.01, 0.01],
            "memorize_train_acc": [0.1, 0.1, 0.4, 0.7, 1.0],
            "memorize_train_loss": [2.3, 2.3, 1.5, 0.5, 0.001],
            "generalize_train_acc": [0.1, 1.0, 0.8, 0.3, 0.1],
            "generalize_train_loss": [2.3, 0.02, 0.4, 3.0, 9.0],
        },
        index=pd.Index(steps, name="step"),
    )
    s = add_shares(t, p)
    assert np.isnan(s.loc[0, "share_generalizing"]) and np.isnan(s.loc[0, "share_loss_memorizing"])  # at chance
    np.testing.assert_allclose(s["share_generalizing"].iloc[1:], [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(s["share_memorizing"].iloc[1:], [1, 7 / 9, 2 / 9, 0])
    assert s.loc[400, "share_loss_memorizing"] == 0  # worse than uniform keeps nothing
    c = share_crossings(s)
    assert c["generalizing_up"] == 300 and c["generalizing_stays"] == 300
    assert c["memorizing_up"] == 100 and c["memorizing_down"] == 300


# ---------------------------------------------------------------------------------------------
# Over training: the vectorized pass against the per-model hook path on a short real run.


# Session scope: built once per xdist worker, not again each time its tests follow another module's.
@pytest.fixture(scope="session")
def tiny_ablation(tiny_run):
    fa = analyze_fourier(tiny_run.path)
    return fa, ablate_run(tiny_run.path, fourier=fa)


def test_vectorized_over_training_equals_the_hook_path(tiny_run, tiny_ablation):
    fa, res = tiny_ablation
    run, keys = Run(tiny_run.path), tuple(fa.key_frequencies)
    data = run.task.dataset()
    steps = run.steps[:: max(1, len(run.steps) // 5)][:5] + [run.steps[-1]]
    stack = run.stack(steps=steps)
    for site in ("logits", "neurons"):
        for method in ("zero", "resample"):
            table = (
                res.table
                if (site, method) == ("logits", "zero")
                else ablation_table(stack.steps, stack.params, fa.p, data, list(keys), site=site, method=method, seed=1)
            )
            for step in steps:
                model = run.model(step)
                plain = hooked_metrics(model, data)
                for m, v in plain.items():
                    assert table.loc[step, m] == pytest.approx(v, rel=1e-4, abs=1e-6), (step, m)
                for circuit in ("generalize", "memorize"):
                    want = hooked_metrics(
                        model,
                        data,
                        CircuitAblation(circuit=circuit, key_freqs=keys, p=fa.p, site=site, method=method, seed=1),
                    )
                    for m, v in want.items():
                        tol = 1.5 / len(data.labels) if m.endswith("acc") else None  # an argmax tie may flip
                        got = table.loc[step, f"{circuit}_{m}"]
                        assert got == pytest.approx(v, rel=1e-4, abs=tol or 1e-6), (site, method, step, circuit, m)


def test_over_training_agrees_with_the_fourier_analysis_and_shows_the_handover(tiny_ablation):
    fa, res = tiny_ablation
    t, m = res.table, fa.measures
    assert list(t.index) == fa.steps
    # The logit-site circuits are the paper's excluded (train pairs) and restricted (all pairs) logits.
    np.testing.assert_allclose(t["generalize_train_loss"], m["excluded_loss"], rtol=1e-4, atol=1e-7)
    n_train, n_test = fa.n_train, fa.p**2 - fa.n_train
    restricted = (n_train * t["memorize_train_loss"] + n_test * t["memorize_test_loss"]) / (n_train + n_test)
    np.testing.assert_allclose(restricted, m["restricted_loss"], rtol=1e-4, atol=1e-7)
    # The handover: the generalizing circuit's share ends near 1, the memorizing one's ends low.
    assert t["share_generalizing"].iloc[-1] > 0.9 and t["share_memorizing"].iloc[-1] < 0.5
    assert t["test_acc"].iloc[-1] >= 0.99 and t["memorize_test_acc"].iloc[-1] >= 0.99
    # Zero and mean ablation of a circuit are the same (its removed part has zero mean over the grid).
    run = Run(res.path)
    stack = run.stack(steps=res.steps[-2:])
    mean = ablation_table(stack.steps, stack.params, fa.p, run.task.dataset(), fa.key_frequencies, method="mean")
    np.testing.assert_allclose(mean.to_numpy(), t.loc[stack.steps, mean.columns].to_numpy(), rtol=1e-4, atol=1e-6)


def test_frequency_importance_equals_the_hook_path(tiny_run, tiny_ablation):
    fa, res = tiny_ablation
    imp = res.importance
    run = Run(tiny_run.path)
    data = run.task.dataset()
    model = run.model(imp.step)
    assert list(imp.table.index) == fa.key_frequencies
    n = len(data.labels)
    for k in fa.key_frequencies:
        want = hooked_metrics(model, data, frequency_ablation(k, fa.p))
        all_pairs = (len(data.train_idx) * want["train_loss"] + len(data.test_idx) * want["test_loss"]) / n
        assert imp.table.loc[k, "loss"] == pytest.approx(all_pairs, rel=1e-4)
        assert imp.table.loc[k, "loss_increase"] == pytest.approx(all_pairs - imp.base["loss"], rel=1e-3, abs=1e-7)
    stack = run.stack(steps=[imp.step])
    again = frequency_importance(imp.step, stack.params, fa.p, data, fa.key_frequencies, site="neurons")
    assert again.site == "neurons" and (again.table["loss_increase"] > 0).all()


def test_bad_inputs_of_the_library(tiny_run, tiny_ablation):
    fa, _ = tiny_ablation
    with pytest.raises(ValueError, match="no checkpoint at step 7 .* steps present: 0, "):
        ablate_run(tiny_run.path, fourier=fa, step=7)
    with pytest.raises(ValueError, match="unknown ablation method"):
        ablate_run(tiny_run.path, fourier=fa, method="gaussian")
    run = Run(tiny_run.path)
    stack = run.stack(steps=run.steps[-1:])
    with pytest.raises(ValueError, match="no key frequencies"):
        ablation_table(stack.steps, stack.params, fa.p, run.task.dataset(), [])
