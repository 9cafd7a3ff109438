"""mul and div runs, analysed through the discrete logarithm: a * b = g^(i + j), a / b = g^(i - j).

A model whose structure is planted in the log basis gives back exactly its planted frequencies; a
really trained ``mod23 --op mul`` run groks, and its analysis finds a handful of key frequencies,
with the restricted loss falling before the test loss, as for addition.
"""

from dataclasses import replace

import pytest
import torch

from grokscope.analysis.ablation.over_checkpoints import ablate_run
from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.analysis.model_view import model_view, primitive_root
from grokscope.imports.run_folder import ImportOptions, import_model
from grokscope.training.train import train
from tests.analysis.fourier.test_basis import planted_model
from tests.conftest import tiny_config

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

P = 23  # the group of nonzero residues has order 22


@pytest.mark.parametrize("p,g", [(7, 3), (11, 2), (23, 5), (97, 5), (113, 3)])
def test_primitive_roots(p, g):
    assert primitive_root(p) == g
    assert sorted(pow(g, i, p) for i in range(p - 1)) == list(range(1, p))


def test_a_non_prime_modulus_is_refused_for_mul():
    from grokscope.config.modular import RunConfig
    from grokscope.tasks import ModularTask

    with pytest.raises(ValueError, match="needs a prime p, not 21: train with a prime modulus"):
        model_view(RunConfig(task=ModularTask(p=21, op="mul")))
    with pytest.raises(ValueError, match=r"op 'x2y2'\): analyze fourier and ablate read add and sub runs"):
        model_view(RunConfig(task=ModularTask(p=23, op="x2y2")))


def planted_in_log_basis(freqs: list[int]) -> dict[str, torch.Tensor]:
    """A mod-P model whose neurons are planted at ``freqs`` of ``i + j mod P-1`` where ``a = g^i``:
    the planted model of ``i + j`` with its rows and columns moved to the residues ``g^i``."""
    n, g = P - 1, primitive_root(P)
    planted = {k: v.float() for k, v in planted_model(n, freqs).items()}
    powers = [pow(g, i, P) for i in range(n)]
    W_E = torch.zeros(P + 1, planted["embed.W_E"].shape[1])
    W_E[powers] = planted["embed.W_E"][:n]
    W_E[P] = planted["embed.W_E"][n]  # '='
    W_U = torch.zeros(planted["unembed.W_U"].shape[0], P)
    W_U[:, powers] = planted["unembed.W_U"]
    return planted | {"embed.W_E": W_E, "unembed.W_U": W_U, "unembed.b_U": torch.zeros(P)}


@pytest.mark.parametrize("op", ["mul", "div"])
def test_planted_log_frequencies_come_back_exactly(tmp_path, op):
    planted = [3, 7]
    torch.save(planted_in_log_basis(planted), tmp_path / "planted.pt")
    run = import_model(tmp_path / "planted.pt", tmp_path / "run", ImportOptions(op=op))
    fa = analyze_fourier(run)
    # The planted neurons read cos(w_k i) + cos(w_k j): frequency k of i + j for mul, and as
    # strongly of i - j (which div asks for); the neuron frequencies are the same either way.
    assert fa.key_frequencies == planted and fa.p == P - 1
    assert fa.basis.startswith("discrete logarithm base 5") and fa.op == ("add" if op == "mul" else "sub")


def test_a_trained_mul_run_groks_and_its_analysis_finds_the_algorithm(tmp_path):
    config = tiny_config(p=P, frac=0.8, steps=1200, eval_every=20, ckpt_every=50, stop_after_grok=60)
    config = replace(config, task=replace(config.task, op="mul"))
    run = train(config, tmp_path, device="cpu")
    assert run.metrics_rows()[-1]["test_acc"] >= 0.99, "mod 23 multiplication groks within 1,200 steps"
    fa = analyze_fourier(run)
    assert 1 <= len(fa.key_frequencies) <= 6, fa.key_frequencies
    m = fa.measures
    restricted = m.index[m["restricted_loss"] < 0.1][0]
    test = m.index[m["test_loss"] < 0.1][0]
    assert restricted < test, (restricted, test)
    # The log view leaves out the 2P - 1 pairs with a zero operand and keeps the split of the others.
    assert len(m) == len(run.steps) and fa.n_train + int(0.2 * P * P) >= (P - 1) ** 2 - 2 * P
    res = ablate_run(run, fourier=fa)
    last = res.table.iloc[-1]
    assert last["memorize_test_acc"] > 0.9  # removing everything but the key frequencies keeps the answers
