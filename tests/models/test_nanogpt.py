"""nanoGPT conventions on TransformerLens's model: the paper's parameter counts, a hand-written nanoGPT
forward as reference, tied-embedding gradients, frozen biases, dropout only in training mode.

The weights are read through ``model_state`` (TransformerLens 3.x names and layouts) and gradients
taken through ``functional_logits``, so the tests hold for ``HookedTransformer`` (3.x) and
``TransformerBridge`` (4.x) alike."""

import math

import pytest
import torch
import torch.nn.functional as F

from grokscope.models.build import build_model, functional_logits, model_state, tl_major
from grokscope.models.nanogpt import add_dropout_hooks, dropout_hook_names, freeze_biases_, tie_grads_
from grokscope.models.state import count_params, count_params_nanogpt
from grokscope.tasks import CapitalsTask, CharArithTask, JointTask

ARITH = CharArithTask()


def test_paper_parameter_counts():
    # "Too Big to Think" Table 2 (nanoGPT's get_num_params, 17-character vocabulary).
    assert [count_params_nanogpt(p, ARITH) for p in ("n14", "n28", "n56", "mlt")] == [1_456, 5_264, 19_936, 10_628_352]
    # Tables 3 and 4 round these: 1.93k/6.22k/21.84k and 2.14k/6.64k/22.68k.
    caps, joint = CapitalsTask(block_size=24, allow_short_block=True), JointTask(block_size=24, allow_short_block=True)
    assert [count_params_nanogpt(p, caps) for p in ("n14", "n28", "n56")] == [1_932, 6_216, 21_840]
    assert [count_params_nanogpt(p, joint) for p in ("n14", "n28", "n56")] == [2_142, 6_636, 22_680]
    # The HookedTransformer's own tensors: + zero biases, the separate W_U and W_pos.
    assert [count_params(p, ARITH) for p in ("n14", "n28", "n56", "mlt")] == [1_963, 6_261, 21_913, 10_664_081]


def nanogpt_forward(state, cfg, idx, wte=None):
    """nanoGPT's GPT.forward (bias=False, tied lm_head), written from its model.py, on TL's weights
    (``state``: TransformerLens 3.x names and layouts, as ``model_state`` gives them).

    ``wte`` is the one tensor used as token embedding and output layer (default ``W_E``)."""
    wte = state["embed.W_E"] if wte is None else wte
    x = wte[idx] + state["pos_embed.W_pos"][: idx.shape[1]]
    for i in range(cfg.n_layers):
        blk = {k.removeprefix(f"blocks.{i}."): v for k, v in state.items() if k.startswith(f"blocks.{i}.")}
        h = F.layer_norm(x, (cfg.d_model,), blk["ln1.w"], None, 1e-5)
        q, k, v = (torch.einsum("bpd,hde->bhpe", h, blk[f"attn.W_{n}"]) for n in "QKV")
        att = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)
        mask = torch.ones(idx.shape[1], idx.shape[1], dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = torch.einsum("bhpe,hed->bpd", att @ v, blk["attn.W_O"])
        x = x + y
        h = F.layer_norm(x, (cfg.d_model,), blk["ln2.w"], None, 1e-5)
        x = x + F.gelu(h @ blk["mlp.W_in"]) @ blk["mlp.W_out"]
    x = F.layer_norm(x, (cfg.d_model,), state["ln_final.w"], None, 1e-5)
    return x @ wte.T


@pytest.mark.parametrize("preset", ["n14", "n28"])
def test_forward_matches_nanogpt(preset):
    model = build_model(preset, ARITH, seed=0).double()
    idx = torch.randint(17, (4, 9), generator=torch.Generator().manual_seed(1))
    # Differences are float rounding (~1e-8 here: TL and the reference order the sums differently);
    # any missing or extra component (a bias, an untied W_U, another GELU) is ~1e-2.
    torch.testing.assert_close(model(idx), nanogpt_forward(model_state(model), model.cfg, idx), atol=1e-7, rtol=1e-5)


def test_nanogpt_init_biases_and_tied_embeddings():
    model = build_model("mlt", ARITH, seed=0)
    named = model_state(model)
    biases = [k for k in named if k.rsplit(".", 1)[-1].startswith("b")]
    assert biases and all(not named[k].any() for k in biases)
    # Frozen: the model trains exactly the non-bias tensors. Counted, not named (4.x's parameters
    # have internal names, and its bridge holds b_U as a buffer, not a parameter).
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable) == sum(v.numel() for k, v in named.items() if k not in biases)
    assert all(not p.any() for p in model.parameters() if not p.requires_grad)
    assert torch.equal(named["unembed.W_U"], named["embed.W_E"].T)
    assert named["embed.W_E"].std().item() == pytest.approx(0.02, rel=0.05)
    # nanoGPT scales the residual projections (c_proj) by 1/sqrt(2 n_layer).
    assert named["blocks.0.mlp.W_out"].std().item() == pytest.approx(0.02 / math.sqrt(12), rel=0.05)
    assert torch.equal(named["blocks.0.ln1.w"], torch.ones(384))


def test_tied_gradient_equals_autograd_through_a_shared_weight():
    model = build_model("n14", ARITH, seed=0).double()
    idx = torch.randint(17, (8, 9), generator=torch.Generator().manual_seed(2))
    y = torch.randint(17, (8, 9), generator=torch.Generator().manual_seed(3))
    # The parameters as the LM trainer holds them: leaf tensors by 3.x name, biases frozen.
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model_state(model).items()}
    freeze_biases_(params)
    F.cross_entropy(functional_logits(model, params, idx).flatten(0, 1), y.flatten()).backward()
    assert params["unembed.W_U"].grad is not None and params["embed.W_E"].grad is not None
    tie_grads_(params)
    w = params["embed.W_E"].detach().clone().requires_grad_(True)
    ref = nanogpt_forward({k: v.detach() for k, v in params.items()}, model.cfg, idx, wte=w)
    F.cross_entropy(ref.flatten(0, 1), y.flatten()).backward()
    torch.testing.assert_close(params["embed.W_E"].grad, w.grad)
    assert params["unembed.W_U"].grad is None


def test_dropout_hooks_only_in_training_mode():
    model = build_model("n14", ARITH, seed=0)
    idx = torch.randint(17, (16, 9), generator=torch.Generator().manual_seed(4))
    plain = model(idx)
    add_dropout_hooks(model, 0.2)
    # Hooked: exactly the hook points at nanoGPT's four places (by object: 4.x also lists some under
    # a second name, see test_dropout_hook_names_*).
    hooked = {id(hp) for hp in model.hook_dict.values() if hp.fwd_hooks}
    assert hooked == {id(model.hook_dict[name]) for name in dropout_hook_names(1)} and len(hooked) == 4
    assert all(len(model.hook_dict[name].fwd_hooks) == 1 for name in dropout_hook_names(1))
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


@pytest.mark.skipif(tl_major() >= 4, reason="HookedTransformer's hook_dict: one name per hook point (3.x)")
def test_dropout_hook_names_on_hooked_transformer():
    model = build_model("n14", ARITH, seed=0)
    add_dropout_hooks(model, 0.2)
    assert {name for name, hp in model.hook_dict.items() if hp.fwd_hooks} == set(dropout_hook_names(1))


# TransformerBridge's hook_dict also lists a block's and its submodules' own in/out hook points,
# which are the same objects as these 3.x-named ones.
BRIDGE_ALIASES = {
    "blocks.0.hook_in": "blocks.0.hook_resid_pre",
    "blocks.0.attn.hook_out": "blocks.0.hook_attn_out",
    "blocks.0.mlp.hook_out": "blocks.0.hook_mlp_out",
}


@pytest.mark.skipif(tl_major() < 4, reason="TransformerBridge's hook_dict: aliased hook points (4.x)")
def test_dropout_hook_names_on_transformer_bridge():
    model = build_model("n14", ARITH, seed=0)
    add_dropout_hooks(model, 0.2)
    hooked = {name for name, hp in model.hook_dict.items() if hp.fwd_hooks}
    assert hooked == set(dropout_hook_names(1)) | set(BRIDGE_ALIASES)
    assert all(model.hook_dict[alias] is model.hook_dict[name] for alias, name in BRIDGE_ALIASES.items())


def test_dropout_zero_adds_no_hooks_and_bad_p_is_refused():
    model = build_model("n14", ARITH, seed=0)
    add_dropout_hooks(model, 0.0)
    assert not any(hp.fwd_hooks for hp in model.hook_dict.values())
    with pytest.raises(ValueError, match="dropout must be in"):
        add_dropout_hooks(model, 1.0)
