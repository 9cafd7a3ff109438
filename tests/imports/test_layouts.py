"""Other codes' grokking models become grokscope states that compute the same logits.

The progress-measures model is run here by a plain-torch copy of its published forward
(mechanistic-interpretability-grokking/progress-measures-paper ``transformers.py``; the Clock/Pizza
variant from fjzzq2002/pizza ``code/train-main.py``: no mask, ``A * attn_coeff + (1 - attn_coeff)``),
the converted state by a real ``HookedTransformer``, on every input pair, in float64.
"""

import math
import warnings

import einops
import pytest
import torch
import torch.nn.functional as F

from grokscope.imports.layouts import ModelShape, detect_layout, infer_shape, to_grokscope_state
from grokscope.models.build import model_from_kwargs, model_from_state, model_state, tl_major
from grokscope.models.state import initial_state, state_shapes
from grokscope.tasks import ModularTask

D_MODEL, N_HEADS, D_HEAD, D_MLP = 16, 2, 8, 32
# Input formats: "[a, b, =]" (3 positions, vocabulary p+1) and "[a, b]" (2 positions, vocabulary p).
FORMATS = {"a b =": (7, True), "a b": (11, False)}


def pm_state(
    p: int, equals: bool, *, n_layers: int = 1, biases: bool = True, seed: int = 0, dtype: torch.dtype = torch.float64
) -> dict[str, torch.Tensor]:
    """A random progress-measures ``Transformer`` state (its names, shapes and ``mask`` buffers)."""
    gen = torch.Generator().manual_seed(seed)
    d_vocab, n_ctx = (p + 1, 3) if equals else (p, 2)

    def draw(*shape: int) -> torch.Tensor:
        # Weights of the size training reaches, so attention is far from uniform.
        return torch.randn(shape, generator=gen, dtype=dtype) * (2 / math.sqrt(shape[-1]))

    state = {"embed.W_E": draw(D_MODEL, d_vocab), "pos_embed.W_pos": draw(n_ctx, D_MODEL)}
    for i in range(n_layers):
        b = f"blocks.{i}."
        state |= {
            b + "attn.W_K": draw(N_HEADS, D_HEAD, D_MODEL),
            b + "attn.W_Q": draw(N_HEADS, D_HEAD, D_MODEL),
            b + "attn.W_V": draw(N_HEADS, D_HEAD, D_MODEL),
            b + "attn.W_O": draw(D_MODEL, N_HEADS * D_HEAD),
            b + "attn.mask": torch.tril(torch.ones(n_ctx, n_ctx, dtype=dtype)),
            b + "mlp.W_in": draw(D_MLP, D_MODEL),
            b + "mlp.W_out": draw(D_MODEL, D_MLP),
        }
        if biases:
            state |= {b + "mlp.b_in": draw(D_MLP), b + "mlp.b_out": draw(D_MODEL)}
    return state | {"unembed.W_U": draw(D_MODEL, d_vocab)}


def pm_forward(
    state: dict[str, torch.Tensor], tokens: torch.Tensor, *, attn_coeff: float = 1.0, causal: bool = True
) -> torch.Tensor:
    """The source's forward, step by step as published (logits at every position)."""
    x = torch.einsum("dbp -> bpd", state["embed.W_E"][:, tokens])
    x = x + state["pos_embed.W_pos"][: x.shape[-2]]
    i = 0
    while f"blocks.{i}.attn.W_Q" in state:
        b = f"blocks.{i}."
        k = torch.einsum("ihd,bpd->biph", state[b + "attn.W_K"], x)
        q = torch.einsum("ihd,bpd->biph", state[b + "attn.W_Q"], x)
        v = torch.einsum("ihd,bpd->biph", state[b + "attn.W_V"], x)
        scores = torch.einsum("biph,biqh->biqp", k, q)
        if causal:  # progress-measures; the Clock/Pizza code leaves the scores unmasked
            n = x.shape[-2]
            scores = torch.tril(scores) - 1e10 * (1 - state[b + "attn.mask"][:n, :n])
        attn = F.softmax(scores / math.sqrt(state[b + "attn.W_Q"].shape[1]), dim=-1)  # d_head
        attn = attn * attn_coeff + (1 - attn_coeff)
        z = einops.rearrange(torch.einsum("biph,biqp->biqh", v, attn), "b i q h -> b q (i h)")
        x = x + torch.einsum("df,bqf->bqd", state[b + "attn.W_O"], z)
        pre = torch.einsum("md,bpd->bpm", state[b + "mlp.W_in"], x) + state.get(b + "mlp.b_in", 0)
        x = x + torch.einsum("dm,bpm->bpd", state[b + "mlp.W_out"], F.relu(pre)) + state.get(b + "mlp.b_out", 0)
        i += 1
    return x @ state["unembed.W_U"]


def all_pairs(p: int, equals: bool) -> torch.Tensor:
    a, b = torch.arange(p).repeat_interleave(p), torch.arange(p).repeat(p)
    columns = [a, b, torch.full_like(a, p)] if equals else [a, b]
    return torch.stack(columns, dim=1)


def tl_model(shape: ModelShape, state: dict[str, torch.Tensor]):
    """The installed TransformerLens's model of ``shape`` holding ``state``, in the state's dtype."""
    model = model_from_kwargs(shape.tl_kwargs() | {"dtype": state["embed.W_E"].dtype}, state)
    if tl_major() < 4:  # every parameter, in HookedTransformer's order (load_state_ checked the shapes)
        assert list(state) == [name for name, _ in model.named_parameters()]
    return model


CASES = [
    (fmt, coeff, layers, biases, direction)
    for fmt in FORMATS
    for coeff in (1.0, 0.0, 0.5)
    for layers in (1, 2)
    for biases in (True, False)
    for direction in ("causal", "bidirectional")
    if not (direction == "causal" and coeff != 1 and layers > 1)
]  # refused: see the test below


@pytest.mark.parametrize("fmt, coeff, layers, biases, direction", CASES)
def test_progress_measures_models_keep_their_logits(fmt, coeff, layers, biases, direction):
    p, equals = FORMATS[fmt]
    source = pm_state(p, equals, n_layers=layers, biases=biases, seed=layers + 10 * biases)
    assert detect_layout(source) == "progress_measures"
    state, shape = to_grokscope_state(
        source, "progress_measures", attn_coeff=coeff, attention_dir=direction, dtype=torch.float64
    )
    assert shape.n_heads == N_HEADS * (2 if coeff == 0.5 else 1)
    assert (shape.d_vocab, shape.d_vocab_out, shape.n_ctx) == ((p + 1, p + 1, 3) if equals else (p, p, 2))
    tokens = all_pairs(p, equals)
    with torch.no_grad():
        expected = pm_forward(source, tokens, attn_coeff=coeff, causal=direction == "causal")
        got = tl_model(shape, state)(tokens)
    torch.testing.assert_close(got[:, -1], expected[:, -1], rtol=0, atol=1e-10)
    if direction == "bidirectional" or coeff == 1:  # exact at every position, not only where logits are read
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_causal_blend_is_exact_only_at_the_final_position():
    source = pm_state(7, True, n_layers=1)
    state, shape = to_grokscope_state(source, "progress_measures", attn_coeff=0.5, dtype=torch.float64)
    tokens = all_pairs(7, True)
    with torch.no_grad():
        expected, got = pm_forward(source, tokens, attn_coeff=0.5), tl_model(shape, state)(tokens)
    torch.testing.assert_close(got[:, -1], expected[:, -1], rtol=0, atol=1e-10)
    # Earlier positions: the source's constant also weights positions the causal model cannot see.
    assert not torch.allclose(got[:, 0], expected[:, 0])


def test_float32_states_by_default_and_the_heads_as_documented():
    source = pm_state(7, True, dtype=torch.float32)
    state, shape = to_grokscope_state(source, "progress_measures", attn_coeff=0.25)
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in state.values())
    assert {k: tuple(v.shape) for k, v in state.items()} == shape.param_shapes()
    W_V = einops.rearrange(source["blocks.0.attn.W_V"], "h k d -> h d k")
    torch.testing.assert_close(state["blocks.0.attn.W_V"][:2], W_V * 0.25)
    torch.testing.assert_close(state["blocks.0.attn.W_V"][2:], W_V * 0.75 * 3)
    assert not state["blocks.0.attn.W_Q"][2:].any() and not state["blocks.0.attn.W_K"][2:].any()
    torch.testing.assert_close(state["blocks.0.attn.W_O"][2:], state["blocks.0.attn.W_O"][:2])
    only_uniform, shape0 = to_grokscope_state(source, "progress_measures", attn_coeff=0)  # a JSON config's int
    assert shape0.n_heads == N_HEADS and not only_uniform["blocks.0.attn.W_Q"].any()
    assert not state["unembed.b_U"].any() and not state["blocks.0.attn.b_O"].any()


def test_the_float32_conversion_matches_the_source_to_float32_precision():
    source = pm_state(11, False, n_layers=2, dtype=torch.float32)
    state, shape = to_grokscope_state(source, "progress_measures", attn_coeff=0.5, attention_dir="bidirectional")
    tokens = all_pairs(11, False)
    with torch.no_grad():
        got, expected = tl_model(shape, state)(tokens), pm_forward(source, tokens, attn_coeff=0.5, causal=False)
    # float32 rounding grows with the logits (hundreds here): 1e-5 of their scale.
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5 * expected.abs().max().item())


@pytest.mark.parametrize("normalization", [None, "LN"])
def test_a_hooked_transformer_round_trips_with_identical_logits(normalization):
    if tl_major() >= 4:
        pytest.skip("HookedTransformer itself is a TransformerLens 3.x model")
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=2,
        n_heads=2,
        d_model=16,
        d_head=8,
        d_mlp=32,
        n_ctx=3,
        d_vocab=8,
        d_vocab_out=7,
        act_fn="relu",
        normalization_type=normalization,
        seed=1,
        device="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        source = HookedTransformer(cfg, move_to_device=False).eval()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for param in source.parameters():  # biases and LayerNorm weights away from 0 and 1 too
            param.add_(0.3 * torch.randn(param.shape, generator=gen))
    sd = source.state_dict()
    assert any(k.endswith(".IGNORE") for k in sd) and any(k.endswith(".mask") for k in sd)
    assert detect_layout(sd) == "hooked"
    state, shape = to_grokscope_state(sd, "hooked")
    assert shape.normalization == normalization and shape.d_vocab_out == 7
    tokens = all_pairs(7, True)
    with torch.no_grad():
        assert torch.equal(tl_model(shape, state)(tokens), source(tokens))


@pytest.mark.parametrize("preset", ["grok1l", "power2l"])
def test_grokscope_states_import_as_themselves(preset):
    task = ModularTask(p=7)
    own = initial_state(preset, task, seed=3)
    state, shape = to_grokscope_state(own, "hooked", act_fn="gelu_new" if preset == "power2l" else "relu")
    assert shape.param_shapes() == state_shapes(preset, task)
    assert list(state) == list(own) and all(torch.equal(state[k], own[k]) for k in own)
    assert all(state[k].data_ptr() != own[k].data_ptr() for k in own)  # copies, not views of the source
    model = model_from_state(preset, task, state)  # whichever TransformerLens is installed
    assert all(torch.equal(v, own[k]) for k, v in model_state(model).items())


def test_absent_hooked_biases_become_zeros():
    own = initial_state("grok1l", ModularTask(p=7), seed=0)
    bare = {k: v for k, v in own.items() if ".b_" not in k}
    state, _ = to_grokscope_state(bare, "hooked")
    assert list(state) == list(own)
    assert all(not state[k].any() for k in own if ".b_" in k)


def test_n_ctx_keeps_the_first_position_rows():
    source = pm_state(7, True)
    state, shape = to_grokscope_state(source, "progress_measures", n_ctx=2)
    assert shape.n_ctx == 2 and torch.equal(state["pos_embed.W_pos"], source["pos_embed.W_pos"][:2].float())
    for bad in (0, 4, True):
        with pytest.raises(ValueError, match="n_ctx must be an integer from 1 to 3"):
            to_grokscope_state(source, "progress_measures", n_ctx=bad)


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_unknown_keys_are_listed_with_the_known_layouts():
    state = {f"encoder.layer.{i}.weight": torch.zeros(2) for i in range(10)}
    with pytest.raises(ValueError) as exc:
        detect_layout(state)
    message = one_line(exc)
    assert "10 of the state's keys match no known layout" in message
    assert "encoder.layer.0.weight" in message and "encoder.layer.7.weight" in message
    assert "encoder.layer.8.weight" not in message and "... and 2 more" in message
    assert "hooked" in message and "progress_measures" in message


def test_a_few_unknown_keys_among_known_ones_are_named():
    state = pm_state(7, True) | {"model.extra": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"1 of the state's keys match no known layout: model\.extra;"):
        detect_layout(state)


def test_hooked_only_keys_in_a_progress_measures_state_are_refused():
    state = pm_state(7, True) | {"blocks.0.attn.b_Q": torch.zeros(2, 8)}
    with pytest.raises(ValueError, match="2-D as in the progress_measures layout.*blocks.0.attn.b_Q"):
        detect_layout(state)


def test_tl_buffers_and_hooks_are_dropped():
    own = initial_state("grok1l", ModularTask(p=7), seed=0)
    noisy = own | {"blocks.0.attn.IGNORE": torch.tensor(-torch.inf), "blocks.0.hook_resid_pre.x": torch.zeros(1)}
    assert detect_layout(noisy) == "hooked"
    assert list(to_grokscope_state(noisy, "hooked")[0]) == list(own)


def test_shapes_that_disagree_name_both_tensors():
    state = pm_state(7, True)
    state["pos_embed.W_pos"] = torch.zeros(3, D_MODEL + 1, dtype=torch.float64)
    with pytest.raises(ValueError) as exc:
        infer_shape(state, "progress_measures")
    assert one_line(exc) == (
        "pos_embed.W_pos has shape (3, 17) but embed.W_E has shape (16, 8): they disagree on d_model (17 vs 16)"
    )


def test_a_second_block_that_disagrees_is_named():
    state = pm_state(7, True, n_layers=2)
    state["blocks.1.mlp.W_out"] = torch.zeros(D_MODEL, D_MLP + 2, dtype=torch.float64)
    with pytest.raises(
        ValueError,
        match=r"blocks\.1\.mlp\.W_out has shape \(16, 34\) but blocks\.0\.mlp\.W_in "
        r"has shape \(32, 16\): they disagree on d_mlp",
    ):
        infer_shape(state, "progress_measures")


def test_a_merged_head_axis_that_does_not_fit_is_named():
    state = pm_state(7, True)
    state["blocks.0.attn.W_O"] = torch.zeros(D_MODEL, 15, dtype=torch.float64)
    with pytest.raises(
        ValueError,
        match=r"blocks\.0\.attn\.W_O has shape \(16, 15\) .* n_heads\*d_head should be "
        r"2\*8 = 16, not 15",
    ):
        infer_shape(state, "progress_measures")


def test_missing_weights_and_missing_layers_are_named():
    state = pm_state(7, True, n_layers=2)
    with pytest.raises(ValueError, match=r"lacks blocks\.1\.mlp\.W_in"):
        infer_shape({k: v for k, v in state.items() if k != "blocks.1.mlp.W_in"}, "progress_measures")
    only_second = {k: v for k, v in state.items() if not k.startswith("blocks.0.")}
    with pytest.raises(ValueError, match=r"numbered \[1\]"):
        infer_shape(only_second, "progress_measures")


def test_partial_layer_norm_is_refused():
    own = initial_state("power2l", ModularTask(p=7), seed=0)
    with pytest.raises(ValueError, match="lacks ln_final.w"):
        infer_shape({k: v for k, v in own.items() if k != "ln_final.w"}, "hooked")


@pytest.mark.parametrize("coeff", [-0.1, 1.5, float("nan")])
def test_attn_coeff_outside_zero_one_is_refused(coeff):
    with pytest.raises(ValueError) as exc:
        to_grokscope_state(pm_state(7, True), "progress_measures", attn_coeff=coeff)
    assert one_line(exc).startswith("attn_coeff must be in [0, 1]")


def test_attn_coeff_on_a_hooked_model_is_refused():
    with pytest.raises(ValueError, match="applies to the progress_measures"):
        to_grokscope_state(initial_state("grok1l", ModularTask(p=7)), "hooked", attn_coeff=0.5)


def test_a_causal_multi_layer_blend_is_refused():
    with pytest.raises(ValueError) as exc:
        to_grokscope_state(pm_state(7, True, n_layers=2), "progress_measures", attn_coeff=0.5)
    assert "exact only for one layer" in one_line(exc) and "bidirectional" in str(exc.value)


def test_a_mask_that_is_not_causal_is_refused_for_a_causal_import():
    state = pm_state(7, True)
    state["blocks.0.attn.mask"] = torch.ones(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="not the causal"):
        to_grokscope_state(state, "progress_measures")
    to_grokscope_state(state, "progress_measures", attention_dir="bidirectional")  # the mask is unused there


def test_model_shape_validates_its_fields():
    good = dict(n_layers=1, n_heads=2, d_model=16, d_head=8, d_mlp=32, n_ctx=3, d_vocab=8, d_vocab_out=7)
    assert ModelShape(**good).tl_kwargs()["attn_only"] is False
    for bad, match in [
        ({"n_heads": 0}, "n_heads must be a positive integer"),
        ({"d_model": True}, "d_model must be a positive integer"),
        ({"normalization": "RMS"}, "normalization must be 'LN' or None"),
        ({"act_fn": "tanh"}, "act_fn 'tanh' is not one TransformerLens has"),
        ({"attention_dir": "both"}, "attention_dir must be"),
    ]:
        with pytest.raises(ValueError, match=match):
            ModelShape(**(good | bad))


def test_source_activation_spellings_are_read():
    _, shape = to_grokscope_state(pm_state(7, True), "progress_measures", act_fn="GeLU")
    assert shape.act_fn == "gelu"
    with pytest.raises(ValueError, match="act_fn 'tanh'"):  # the Clock/Pizza code's Tanh has no TL counterpart
        to_grokscope_state(pm_state(7, True), "progress_measures", act_fn="Tanh")


def test_an_unknown_layout_name_is_refused():
    with pytest.raises(ValueError, match="unknown layout 'nanogpt'"):
        infer_shape(pm_state(7, True), "nanogpt")
