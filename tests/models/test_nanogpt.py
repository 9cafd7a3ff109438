"""nanoGPT conventions on HookedTransformer: the paper's parameter counts, a hand-written nanoGPT
forward as reference, tied-embedding gradients, frozen biases, dropout only in training mode."""

import math

import pytest
import torch
import torch.nn.functional as F

from grokscope.models.build import build_model, count_params, count_params_nanogpt
from grokscope.models.nanogpt import add_dropout_hooks, dropout_hook_names, tie_grads_
from grokscope.tasks import CapitalsTask, CharArithTask, JointTask

ARITH = CharArithTask()


def test_paper_parameter_counts():
    # "Too Big to Think" Table 2 (nanoGPT's get_num_params, 17-character vocabulary).
    assert [count_params_nanogpt(p, ARITH) for p in ("n14", "n28", "n56", "mlt")] == [1_456, 5_264, 19_936,
                                                                                        10_628_352]
    # Tables 3 and 4 round these: 1.93k/6.22k/21.84k and 2.14k/6.64k/22.68k.
    caps, joint = CapitalsTask(block_size=24, allow_short_block=True), JointTask(block_size=24, allow_short_block=True)
    assert [count_params_nanogpt(p, caps) for p in ("n14", "n28", "n56")] == [1_932, 6_216, 21_840]
    assert [count_params_nanogpt(p, joint) for p in ("n14", "n28", "n56")] == [2_142, 6_636, 22_680]
    # The HookedTransformer's own tensors: + zero biases, the separate W_U and W_pos.
    assert [count_params(p, ARITH) for p in ("n14", "n28", "n56", "mlt")] == [1_963, 6_261, 21_913, 10_664_081]


def nanogpt_forward(model, idx, wte=None):
    """nanoGPT's GPT.forward (bias=False, tied lm_head), written from its model.py, on TL's weights.

    ``wte`` is the one tensor used as token embedding and output layer (default ``W_E``)."""
    cfg = model.cfg
    wte = model.embed.W_E if wte is None else wte
    x = wte[idx] + model.pos_embed.W_pos[: idx.shape[1]]
    for blk in model.blocks:
        h = F.layer_norm(x, (cfg.d_model,), blk.ln1.w, None, 1e-5)
        q, k, v = (torch.einsum("bpd,hde->bhpe", h, w) for w in (blk.attn.W_Q, blk.attn.W_K, blk.attn.W_V))
        att = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)
        mask = torch.ones(idx.shape[1], idx.shape[1], dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = torch.einsum("bhpe,hed->bpd", att @ v, blk.attn.W_O)
        x = x + y
        h = F.layer_norm(x, (cfg.d_model,), blk.ln2.w, None, 1e-5)
        x = x + F.gelu(h @ blk.mlp.W_in) @ blk.mlp.W_out
    x = F.layer_norm(x, (cfg.d_model,), model.ln_final.w, None, 1e-5)
    return x @ wte.T


@pytest.mark.parametrize("preset", ["n14", "n28"])
def test_forward_matches_nanogpt(preset):
    model = build_model(preset, ARITH, seed=0).double()
    idx = torch.randint(17, (4, 9), generator=torch.Generator().manual_seed(1))
    # Differences are float rounding (~1e-8 here: TL and the reference order the sums differently);
    # any missing or extra component (a bias, an untied W_U, another GELU) is ~1e-2.
    torch.testing.assert_close(model(idx), nanogpt_forward(model, idx), atol=1e-7, rtol=1e-5)


def test_nanogpt_init_biases_and_tied_embeddings():
    model = build_model("mlt", ARITH, seed=0)
    named = dict(model.named_parameters())
    biases = [k for k in named if k.rsplit(".", 1)[-1].startswith("b")]
    assert biases and all(not named[k].requires_grad and not named[k].any() for k in biases)
    assert torch.equal(model.unembed.W_U, model.embed.W_E.T)
    assert model.embed.W_E.std().item() == pytest.approx(0.02, rel=0.05)
    # nanoGPT scales the residual projections (c_proj) by 1/sqrt(2 n_layer).
    assert model.blocks[0].mlp.W_out.std().item() == pytest.approx(0.02 / math.sqrt(12), rel=0.05)
    assert torch.equal(model.blocks[0].ln1.w, torch.ones(384))


def test_tied_gradient_equals_autograd_through_a_shared_weight():
    model = build_model("n14", ARITH, seed=0).double()
    idx = torch.randint(17, (8, 9), generator=torch.Generator().manual_seed(2))
    y = torch.randint(17, (8, 9), generator=torch.Generator().manual_seed(3))
    F.cross_entropy(model(idx).flatten(0, 1), y.flatten()).backward()
    tie_grads_(dict(model.named_parameters()))
    w = model.embed.W_E.detach().clone().requires_grad_(True)
    ref = nanogpt_forward(model, idx, wte=w)
    F.cross_entropy(ref.flatten(0, 1), y.flatten()).backward()
    torch.testing.assert_close(model.embed.W_E.grad, w.grad)
    assert model.unembed.W_U.grad is None


def test_dropout_hooks_only_in_training_mode():
    model = build_model("n14", ARITH, seed=0)
    idx = torch.randint(17, (16, 9), generator=torch.Generator().manual_seed(4))
    plain = model(idx)
    add_dropout_hooks(model, 0.2)
    assert {name for name, hp in model.hook_dict.items() if hp.fwd_hooks} == set(dropout_hook_names(1))
    model.eval()
    assert torch.equal(model(idx), plain)
    model.train()
    a, b = model(idx), model(idx)
    assert not torch.equal(a, b) and not torch.equal(a, plain)
    # A dropped attention weight is zero, a kept one scaled by 1/(1-p), as nn.Dropout does.
    _, cache = model.run_with_cache(idx)
    pattern = cache["blocks.0.attn.hook_pattern"]
    assert (pattern == 0).float().mean() > 0.5  # the causal mask's zeros plus ~20% of the rest
    model.eval()
    assert torch.equal(model(idx), plain)


def test_dropout_zero_adds_no_hooks_and_bad_p_is_refused():
    model = build_model("n14", ARITH, seed=0)
    add_dropout_hooks(model, 0.0)
    assert not any(hp.fwd_hooks for hp in model.hook_dict.values())
    with pytest.raises(ValueError, match="dropout must be in"):
        add_dropout_hooks(model, 1.0)
