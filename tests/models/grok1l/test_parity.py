"""Every computation of the 1-layer grokking model against TransformerLens's model, the yardstick.

The paths (``grokscope.models.grok1l``): the plain reference forward at every position, the
final-position forward in PyTorch, the numba-fused one (and its buffer-reusing variant), the
grid over all ``p^2`` pairs for a stack of checkpoints, and the training step's hand-written
backward. Each is compared with the installed TransformerLens's model (``HookedTransformer`` on
3.x, ``TransformerBridge`` on 4.x: ``run_with_cache``, and for gradients its forward run on a
3.x-named state through ``functional_logits``) in float64 on random large weights (biases too,
so every term matters: tight tolerances), and spot-checked in float32 on the initial weights.
Then the choice between them (``supports``, ``choose_path``) and the parameters they read
(``Grok1LParams``).
"""

from functools import cache

import pytest
import torch
import torch.nn.functional as F

from grokscope.analysis.fourier.progress_measures import grid_forward
from grokscope.models.build import build_model, functional_logits, model_state, tl_config
from grokscope.models.grok1l.backward import fused_loss_and_grad
from grokscope.models.grok1l.final_position import final_position_cache, final_position_logits
from grokscope.models.grok1l.fused import OperandBatch, fused_final_cache, fused_final_cache_into, fused_final_logits
from grokscope.models.grok1l.grid import grid_cache
from grokscope.models.grok1l.names import STATE_NAMES
from grokscope.models.grok1l.params import Grok1LParams, as_params
from grokscope.models.grok1l.paths import choose_path, fused_available, supports
from grokscope.models.grok1l.reference import reference_forward
from grokscope.models.presets import PRESET_NAMES, model_kwargs
from grokscope.numerics.workspace import Workspace
from grokscope.tasks import CHAR_TASKS, ModularTask, get_task
from tests.conftest import random_float64_model

PATTERN, RESID_MID, MLP_POST = "blocks.0.attn.hook_pattern", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post"
TIGHT = dict(atol=1e-9, rtol=1e-9)  # float64 activations and logits
TIGHT_PATTERN = dict(atol=1e-12, rtol=1e-9)


def require_fused() -> None:
    """Skip a test of the numba paths where the kernels cannot run."""
    if not fused_available("cpu"):
        pytest.skip("numba not installed")


def params_of(model) -> Grok1LParams:
    """The model's parameters in TransformerLens 3.x names and layouts (no gradient: forward checks)."""
    return Grok1LParams.from_state(model_state(model))


def leaf_params(model) -> Grok1LParams:
    """The model's parameters as fresh leaf tensors that require grad: autograd, through the paths
    here or through the model (:func:`model_logits`), and the hand-written backward set their ``.grad``."""
    return Grok1LParams.from_state({k: v.detach().clone().requires_grad_(True) for k, v in model_state(model).items()})


def model_logits(model, w: Grok1LParams, tokens: torch.Tensor) -> torch.Tensor:
    """TransformerLens's forward of ``model`` with ``w`` as its weights; gradients reach ``w``."""
    return functional_logits(model, w.to_state(), tokens)


def grads_of(w: Grok1LParams) -> dict[str, torch.Tensor | None]:
    """``.grad`` of each tensor of ``w`` by state name, in ``named_parameters()`` order."""
    return {k: t.grad for k, t in w.to_state().items()}


def clear_grads(w: Grok1LParams) -> None:
    for _, t in w.items():
        t.grad = None


def stacked(w: Grok1LParams) -> Grok1LParams:
    """One model as a stack of one checkpoint (detached), as ``grid_cache`` reads it."""
    return w.map(lambda t: t.detach()[None])


def random_subset(task: ModularTask, n: int | None, seed: int):
    """``(a, b, tokens, labels)`` of ``n`` pairs in shuffled order (all of them for ``None``).

    With few pairs some tokens never appear: the fused paths' per-token example lists must cope.
    """
    data = task.dataset()
    pick = torch.randperm(len(data.a), generator=torch.Generator().manual_seed(seed))[:n]
    return data.a[pick], data.b[pick], data.tokens()[pick], data.labels[pick]


def _assert_matches_cache(ours, ref_logits, cache) -> None:
    """Logits and the three cached activations of ``reference_forward`` against ``run_with_cache``."""
    torch.testing.assert_close(ours.logits, ref_logits, **TIGHT)
    torch.testing.assert_close(ours.pattern, cache[PATTERN], **TIGHT_PATTERN)
    torch.testing.assert_close(ours.resid_mid, cache[RESID_MID], **TIGHT)
    torch.testing.assert_close(ours.mlp_post, cache[MLP_POST], **TIGHT)


# --- reference_forward: every position ---------------------------------------------------------


@pytest.mark.parametrize("p", [13, 23])
def test_reference_forward_equals_hooked_transformer_at_every_position_float64(p):
    task, model = random_float64_model(p, seed=1)
    tokens = task.dataset().tokens()
    with torch.no_grad():
        ref_logits, cache = model.run_with_cache(tokens)
        ours = reference_forward(params_of(model), tokens)
    _assert_matches_cache(ours, ref_logits, cache)
    assert not ours.pattern.triu(1).any()  # causal: no query sees a later key


@pytest.mark.parametrize("n_pos", [1, 2, 3])
def test_reference_forward_equals_hooked_transformer_on_any_tokens_float64(n_pos):
    # Not only [a, b, =] rows: '=' anywhere, repeated tokens, and shorter contexts.
    task, model = random_float64_model(13, seed=2)
    tokens = torch.randint(0, task.d_vocab, (200, n_pos), generator=torch.Generator().manual_seed(n_pos))
    with torch.no_grad():
        ref_logits, cache = model.run_with_cache(tokens)
        ours = reference_forward(params_of(model), tokens)
    _assert_matches_cache(ours, ref_logits, cache)


# --- final-position paths: logits, the last query's pattern, mlp_post ----------------------------


def test_final_position_cache_equals_hooked_transformer_float64():
    task, model = random_float64_model(13, seed=1)
    data = task.dataset()
    with torch.no_grad():
        ref_logits, cache = model.run_with_cache(data.tokens())
        ours = final_position_cache(params_of(model), data.a, data.b, task.eq_token)
    torch.testing.assert_close(ours.logits, ref_logits[:, -1], **TIGHT)
    torch.testing.assert_close(ours.pattern, cache[PATTERN][:, :, -1], **TIGHT_PATTERN)
    torch.testing.assert_close(ours.mlp_post, cache[MLP_POST][:, -1], **TIGHT)
    torch.testing.assert_close(ours.resid_mid, cache[RESID_MID][:, -1], **TIGHT)


@pytest.mark.parametrize("n_examples", [60, None], ids=["subset", "all"])
def test_fused_final_cache_equals_hooked_transformer_float64(n_examples):
    require_fused()
    task, model = random_float64_model(13, seed=1)
    a, b, tokens, _ = random_subset(task, n_examples, seed=0)
    with torch.no_grad():
        ref_logits, cache = model.run_with_cache(tokens)
        pattern, post, logits = fused_final_cache(params_of(model), OperandBatch(a, b, task.p), task.eq_token)
    torch.testing.assert_close(logits, ref_logits[:, -1], **TIGHT)
    torch.testing.assert_close(pattern, cache[PATTERN][:, :, -1], **TIGHT_PATTERN)
    torch.testing.assert_close(post, cache[MLP_POST][:, -1], **TIGHT)


@pytest.mark.parametrize("n_examples", [60, None], ids=["subset", "all"])
def test_fused_final_cache_into_equals_hooked_transformer_float64(n_examples):
    require_fused()
    task, model = random_float64_model(13, seed=1)
    a, b, tokens, _ = random_subset(task, n_examples, seed=0)
    w = params_of(model).map(torch.Tensor.detach)
    n, n_heads, d_mlp, d_out = len(a), w.n_heads, w.d_mlp, w.d_vocab_out
    pattern = torch.full((n, n_heads, 3), 5.0, dtype=torch.float64)  # stale contents must not leak through
    hidden = torch.full((n, d_mlp + d_out), 5.0, dtype=torch.float64)
    logits = torch.full((n, d_out), 5.0, dtype=torch.float64)
    batch = OperandBatch(a, b, task.p)
    post = fused_final_cache_into(w, batch, task.eq_token, pattern=pattern, hidden=hidden, logits=logits)
    with torch.no_grad():
        ref_logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, ref_logits[:, -1], **TIGHT)
    torch.testing.assert_close(pattern, cache[PATTERN][:, :, -1], **TIGHT_PATTERN)
    torch.testing.assert_close(post, cache[MLP_POST][:, -1], **TIGHT)
    assert post.data_ptr() == hidden.data_ptr()  # mlp_post is a view of the given buffer
    # Bit for bit what fused_final_cache computes, and again into the same (now used) buffers.
    with torch.no_grad():
        ref = fused_final_cache(w, batch, task.eq_token)
    first = [t.clone() for t in (pattern, post, logits)]
    fused_final_cache_into(w, batch, task.eq_token, pattern=pattern, hidden=hidden, logits=logits)
    for x, y, z in zip(first, (pattern, post, logits), ref):
        assert torch.equal(x, y) and torch.equal(x, z)


@pytest.mark.parametrize("use_workspace", [False, True], ids=["fresh", "workspace"])
def test_grid_cache_one_checkpoint_equals_hooked_transformer_float64(use_workspace):
    task, model = random_float64_model(13, seed=2)
    data = task.dataset()
    w = params_of(model)
    with torch.no_grad():
        grid = grid_cache(stacked(w), 13, workspace=Workspace() if use_workspace else None)
        final = final_position_cache(w, data.a, data.b, task.eq_token)
        ref_logits, cache = model.run_with_cache(data.tokens())
    assert grid.logits.shape == (1, 13, 13, 13) and grid.mlp_post.shape == (1, 13, 13, w.d_mlp)
    flat = lambda t: t[0].reshape(13 * 13, *t.shape[3:])  # noqa: E731  (a-major, like task.dataset())
    torch.testing.assert_close(flat(grid.logits), ref_logits[:, -1], **TIGHT)
    torch.testing.assert_close(flat(grid.logits), final.logits, atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(flat(grid.mlp_post), cache[MLP_POST][:, -1], atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(flat(grid.pattern), cache[PATTERN][:, :, -1], **TIGHT_PATTERN)


@pytest.mark.parametrize("n_ckpt", [2, 3])
@pytest.mark.parametrize("use_workspace", [False, True], ids=["fresh", "workspace"])
def test_grid_cache_stack_of_checkpoints_equals_each_hooked_transformer_float64(n_ckpt, use_workspace):
    p = 13
    models = [random_float64_model(p, seed=10 + i)[1] for i in range(n_ckpt)]
    tokens = ModularTask(p=p).dataset().tokens()
    states = [params_of(m) for m in models]
    w = Grok1LParams(**{f: torch.stack([getattr(s, f) for s in states]).detach() for f in STATE_NAMES})
    with torch.no_grad():
        grid = grid_cache(w, p, workspace=Workspace() if use_workspace else None)
    assert grid.logits.shape[0] == grid.mlp_post.shape[0] == grid.pattern.shape[0] == n_ckpt
    for i, model in enumerate(models):
        with torch.no_grad():
            ref_logits, cache = model.run_with_cache(tokens)
        flat = lambda t: t[i].reshape(p * p, *t.shape[3:])  # noqa: E731,B023
        torch.testing.assert_close(flat(grid.logits), ref_logits[:, -1], **TIGHT, msg=f"checkpoint {i}")
        torch.testing.assert_close(flat(grid.mlp_post), cache[MLP_POST][:, -1], **TIGHT, msg=f"checkpoint {i}")
        torch.testing.assert_close(flat(grid.pattern), cache[PATTERN][:, :, -1], **TIGHT_PATTERN, msg=f"checkpoint {i}")


@pytest.mark.parametrize("random_weights", [True, False])
def test_grid_forward_fused_route_equals_hooked_transformer(random_weights):
    # The analyses' grid_forward: one CPU checkpoint with a workspace takes the numba route
    # (fused_final_cache_into), else grid_cache. p = 37 gives 1,369 rows, so the logits product
    # runs in more than one row block. Random large weights in float64 (every term matters, tight
    # check); the float32 initial weights the analysis meets in practice.
    if random_weights:
        task, model = random_float64_model(37, seed=3)
        tol = dict(atol=1e-9, rtol=1e-9)
    else:
        task = ModularTask(p=37)
        model = build_model("grok1l", task, seed=3)
        tol = dict(atol=1e-5, rtol=1e-5)
    w = stacked(params_of(model))
    with torch.no_grad():
        post, logits = grid_forward(w, 37, Workspace())
        ref_logits, cache = model.run_with_cache(task.dataset().tokens())
    torch.testing.assert_close(logits[0].reshape(37 * 37, -1), ref_logits[:, -1], **tol)
    torch.testing.assert_close(post[0].reshape(37 * 37, -1), cache[MLP_POST][:, -1], **tol)


def test_grid_forward_on_a_stack_equals_hooked_transformer_float64():
    # Two checkpoints take the grid_cache route whether or not numba is there.
    p = 13
    models = [random_float64_model(p, seed=20 + i)[1] for i in range(2)]
    states = [params_of(m) for m in models]
    w = Grok1LParams(**{f: torch.stack([getattr(s, f) for s in states]).detach() for f in STATE_NAMES})
    tokens = ModularTask(p=p).dataset().tokens()
    with torch.no_grad():
        post, logits = grid_forward(w, p, Workspace())
        for i, model in enumerate(models):
            ref_logits, cache = model.run_with_cache(tokens)
            torch.testing.assert_close(logits[i].reshape(p * p, -1), ref_logits[:, -1], **TIGHT)
            torch.testing.assert_close(post[i].reshape(p * p, -1), cache[MLP_POST][:, -1], **TIGHT)


# --- float32 spot checks: the initial weights, as training and the analyses meet them ---------


@cache
def _float32_case(p: int):
    task = ModularTask(p=p)
    model = build_model("grok1l", task, seed=3)
    data = task.dataset()
    with torch.no_grad():
        ref = model(data.tokens())
    return task, params_of(model).map(torch.Tensor.detach), data, ref


@pytest.mark.parametrize("path", ["reference", "final_position", "fused", "fused_into", "grid"])
@pytest.mark.parametrize("p", [13, 97])
def test_float32_logits_within_1e5_of_hooked_transformer(path, p):
    if path.startswith("fused"):
        require_fused()
    task, w, data, ref = _float32_case(p)
    batch = OperandBatch(data.a, data.b, p)
    with torch.no_grad():
        if path == "reference":
            ours, ref_at = reference_forward(w, data.tokens()).logits, ref  # every position
        elif path == "final_position":
            ours, ref_at = final_position_logits(w, data.a, data.b, task.eq_token), ref[:, -1]
        elif path == "fused":
            ours, ref_at = fused_final_logits(w, batch, task.eq_token), ref[:, -1]
        elif path == "fused_into":
            n = len(data.a)
            ours = torch.empty(n, p)
            fused_final_cache_into(
                w,
                batch,
                task.eq_token,
                pattern=torch.empty(n, w.n_heads, 3),
                hidden=torch.empty(n, w.d_mlp + p),
                logits=ours,
            )
            ref_at = ref[:, -1]
        else:
            ours, ref_at = grid_cache(stacked(w), p).logits[0].reshape(p * p, p), ref[:, -1]
    assert ours.dtype == torch.float32
    assert (ours - ref_at).abs().max().item() < 1e-5


# --- gradients: autograd through TransformerLens's model against every training path ----------

GRAD_CASES = {
    # name: (model, n_examples). The initial float64 weights on every pair; random large weights
    # (biases too) on a shuffled subset with some tokens absent, and on every pair of p = 17.
    "init13-all": (
        lambda: (
            ModularTask(p=13),
            build_model("grok1l", ModularTask(p=13), seed=0).to(torch.float64, print_details=False),
        ),
        None,
    ),
    "random13-60": (lambda: random_float64_model(13, seed=4), 60),
    "random17-all": (lambda: random_float64_model(17, seed=4), None),
}


def _path_gradients(path: str, w: Grok1LParams, task, a, b, labels) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``(loss, logits, grads by state name)`` of the mean cross-entropy at the final position."""
    clear_grads(w)
    if path == "hand_written":
        for _, t in w.items():
            t.grad = torch.full_like(t, 7.0)  # replaced, not accumulated into
        loss, logits = fused_loss_and_grad(w, OperandBatch(a, b, task.p), labels, task.eq_token)
    else:
        if path == "final_position":
            logits = final_position_logits(w, a, b, task.eq_token)
        else:  # "fused_autograd"
            logits = fused_final_cache(w, OperandBatch(a, b, task.p), task.eq_token)[2]
        loss = F.cross_entropy(logits, labels)
        loss.backward()
    return loss.detach(), logits.detach(), grads_of(w)


@pytest.mark.parametrize("path", ["final_position", "fused_autograd", "hand_written"])
@pytest.mark.parametrize("case", list(GRAD_CASES))
def test_gradients_of_every_path_equal_hooked_transformer_float64(case, path):
    if path != "final_position":
        require_fused()
    build, n_examples = GRAD_CASES[case]
    task, model = build()
    a, b, tokens, labels = random_subset(task, n_examples, seed=1)
    w = leaf_params(model)
    ref_logits = model_logits(model, w, tokens)[:, -1]
    with torch.no_grad():  # the functional call is the model's own forward on its own weights
        assert torch.equal(ref_logits, model(tokens)[:, -1])
    ref_loss = F.cross_entropy(ref_logits, labels)
    ref_loss.backward()
    ref = {k: g.clone() for k, g in grads_of(w).items()}

    loss, logits, ours = _path_gradients(path, w, task, a, b, labels)
    torch.testing.assert_close(loss, ref_loss.detach(), atol=0, rtol=1e-12)
    torch.testing.assert_close(logits, ref_logits.detach(), **TIGHT)
    # b_K's true gradient is zero (softmax ignores a shift): compare on the overall scale too.
    scale = max(g.abs().max().item() for g in ref.values())
    assert list(ours) == list(ref) == list(STATE_NAMES.values())
    for k, v in w.to_state().items():
        assert ours[k] is not None and ours[k].shape == v.shape, k
        if path == "hand_written":
            assert ours[k].is_contiguous(), k
        torch.testing.assert_close(ours[k], ref[k], atol=min(1e-10, 1e-12 * scale), rtol=1e-7, msg=k)


def test_fused_gradient_through_mlp_post_alone():
    # Only post receives a gradient here (direct's is zero): the ReLU mask must still apply.
    require_fused()
    task, model = random_float64_model(11, seed=2)
    data = task.dataset()
    w = leaf_params(model)
    _, post, _ = fused_final_cache(w, OperandBatch(data.a, data.b, task.p), task.eq_token)
    post.square().sum().backward()
    ours = grads_of(w)
    clear_grads(w)
    final_position_cache(w, data.a, data.b, task.eq_token).mlp_post.square().sum().backward()
    # b_K's true gradient is zero (softmax ignores a shift), so compare on the overall scale.
    scale = max(v.grad.abs().max().item() for _, v in w.items() if v.grad is not None)
    for k, v in w.to_state().items():
        if v.grad is None:  # W_out, b_out, b_U do not reach post
            assert ours[k] is None or not ours[k].any(), k
        else:
            torch.testing.assert_close(ours[k], v.grad, atol=1e-12 * scale, rtol=1e-7, msg=k)


def test_fused_paths_are_bit_deterministic():
    require_fused()
    task = ModularTask(p=23)
    model = build_model("grok1l", task, seed=0)
    data = task.dataset()
    w = leaf_params(model)
    batch = OperandBatch(data.a, data.b, task.p)

    def autograd():
        clear_grads(w)
        fused_final_logits(w, batch, task.eq_token).logsumexp(-1).sum().backward()
        return [v.grad.clone() for _, v in w.items()]

    def hand_written():
        loss, logits = fused_loss_and_grad(w, batch, data.labels, task.eq_token)
        return [loss, logits] + [v.grad.clone() for _, v in w.items()]

    for run in (autograd, hand_written):
        first, second = run(), run()
        assert all(torch.equal(x, y) for x, y in zip(first, second, strict=True)), run.__name__


def test_hand_written_gradients_skip_frozen_parameters():
    require_fused()
    task, model = random_float64_model(11, seed=5)
    data = task.dataset()
    w = leaf_params(model)
    w.b_O.requires_grad_(False)
    fused_loss_and_grad(w, OperandBatch(data.a, data.b, task.p), data.labels, task.eq_token)
    grads = grads_of(w)
    assert grads["blocks.0.attn.b_O"] is None
    assert all(g is not None for k, g in grads.items() if k != "blocks.0.attn.b_O")


def test_hand_written_gradients_in_float32_match_float64():
    # The float32 kernels (what training runs) against the float64 reference, at p = 97. A ReLU
    # input that rounds to 0 in one precision and not the other moves that neuron's gradient by a
    # whole example's share (seen: one such kink among 1.4M inputs moved b_in by 2e-3 of its
    # largest entry), so the bound is that share, far below what a wrong term would give.
    require_fused()
    task = ModularTask(p=97)
    model = build_model("grok1l", task, seed=6)
    data = task.dataset()
    a, b, tokens, labels = (t[data.train_idx] for t in (data.a, data.b, data.tokens(), data.labels))
    w = leaf_params(model)
    loss, logits = fused_loss_and_grad(w, OperandBatch(a, b, task.p), labels, task.eq_token)
    ours = {k: g.double() for k, g in grads_of(w).items()}
    model64 = build_model("grok1l", task, seed=6).to(torch.float64, print_details=False)
    w64 = leaf_params(model64)
    ref_logits = model_logits(model64, w64, tokens)[:, -1]
    ref_loss = F.cross_entropy(ref_logits, labels)
    ref_loss.backward()
    torch.testing.assert_close(loss, ref_loss.detach(), atol=0, rtol=1e-6)
    torch.testing.assert_close(logits.double(), ref_logits.detach(), atol=1e-5, rtol=0)
    scale = max(v.grad.abs().max().item() for _, v in w64.items())
    for k, v in w64.to_state().items():
        own = v.grad.abs().max().item()  # b_K's is 0 up to rounding: the global scale bounds it
        torch.testing.assert_close(ours[k], v.grad, atol=3e-3 * own + 1e-6 * scale, rtol=0, msg=k)


# --- which path runs: supports() and choose_path() ---------------------------------------------

TASK_NAMES = ["mod13", "mod97-mul", "mod113-x3xy", *CHAR_TASKS]


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("task_name", TASK_NAMES)
def test_supports_agrees_on_kwargs_and_config_and_holds_only_for_grok1l_on_modular_tasks(preset, task_name):
    task = get_task(task_name)
    claimed = supports(model_kwargs(preset, task))
    assert claimed == supports(tl_config(preset, task))
    assert claimed == (preset == "grok1l" and isinstance(task, ModularTask))


def test_supports_checks_the_built_models_config():
    task = ModularTask(p=13)
    assert supports(build_model("grok1l", task).cfg)
    assert not supports(build_model("power2l", task).cfg)
    assert not supports(build_model("n14", task).cfg)


@pytest.mark.parametrize(
    "change",
    [
        dict(n_layers=2),
        dict(n_ctx=4),
        dict(normalization_type="LN"),
        dict(act_fn="gelu"),
        dict(attn_only=True),
        dict(positional_embedding_type="rotary"),
        dict(use_attn_scale=False),
        dict(gated_mlp=True),
        dict(attention_dir="bidirectional"),
        dict(use_split_qkv_input=True),
        dict(parallel_attn_mlp=True),
    ],
    ids=lambda c: next(iter(c)),
)
def test_supports_refuses_any_field_the_fast_paths_do_not_compute(change):
    kw = model_kwargs("grok1l", ModularTask(p=13))
    assert supports(kw)
    assert not supports(kw | change)


@pytest.mark.parametrize("task_name", ["mod13", "mod97-mul"])
def test_choose_path(task_name):
    task = get_task(task_name)
    kw = model_kwargs("grok1l", task)
    cfg = tl_config("grok1l", task)
    for c in (kw, cfg):
        assert choose_path(c, device="cpu") == ("fused" if fused_available("cpu") else "final_position")
        assert choose_path(c, device="cpu", fast=False) == "hooked"
        assert choose_path(c, device="cuda") == "final_position"  # the numba kernels are CPU only
        assert choose_path(c, device="cuda", fast=False) == "hooked"
    assert not fused_available("cuda") and not fused_available("meta")
    # A tensor's device is taken as well as a name (the analyses pass ``x.device``).
    assert fused_available(torch.device("cpu")) == fused_available("cpu")
    assert not fused_available(torch.device("meta"))
    assert choose_path(kw, device=torch.device("cpu")) == choose_path(kw, device="cpu")
    for preset in PRESET_NAMES:
        if preset != "grok1l":
            for device in ("cpu", "cuda"):
                assert choose_path(model_kwargs(preset, task), device=device) == "hooked", (preset, device)
                assert choose_path(tl_config(preset, task), device=device) == "hooked", (preset, device)


def test_fused_is_chosen_on_cpu_where_numba_is_installed():
    require_fused()
    assert fused_available("cpu")
    assert choose_path(model_kwargs("grok1l", ModularTask(p=13)), device="cpu") == "fused"


# --- the parameters: Grok1LParams (the initial values are tests/models/test_state.py's) -------------


def test_params_round_trip_state_names_and_order():
    model = build_model("grok1l", ModularTask(p=13), seed=0)
    named = model_state(model)
    w = Grok1LParams.from_state(named)
    back = w.to_state()
    assert list(back) == list(named) == list(STATE_NAMES.values())
    assert all(back[k] is named[k] for k in named)  # the same tensors, not copies
    assert [f for f, _ in w.items()] == list(STATE_NAMES)
    # Extra entries are ignored: the model's state_dict() (on 3.x it is this state plus buffers,
    # causal masks, and its tensors win; on 4.x it is in the bridge's own names).
    state = {**named, **model.state_dict()}
    assert set(state) > set(named)
    from_sd = Grok1LParams.from_state(state).to_state()
    assert list(from_sd) == list(named)
    assert all(torch.equal(from_sd[k], named[k]) for k in named)
    # as_params reads a state dict by name and passes Grok1LParams through.
    assert as_params(w) is w
    assert all(getattr(as_params(named), f) is getattr(w, f) for f in STATE_NAMES)
    # map applies to every tensor; the properties read the shapes.
    stack = w.map(lambda t: t.detach()[None].expand(3, *t.shape))
    assert all(t.shape[0] == 3 for _, t in stack.items())
    assert (w.n_heads, w.d_head, w.d_mlp, w.d_vocab_out) == (4, 32, 512, 13)
    assert (stack.n_heads, stack.d_head, stack.d_mlp, stack.d_vocab_out) == (4, 32, 512, 13)


@pytest.mark.parametrize("missing", ["embed.W_E", "blocks.0.attn.b_K", "unembed.b_U"])
def test_from_state_of_a_state_missing_a_tensor_is_a_value_error(missing):
    state = model_state(build_model("grok1l", ModularTask(p=13), seed=0))
    del state[missing]
    with pytest.raises(ValueError, match=f"missing.*{missing}"):
        Grok1LParams.from_state(state)
