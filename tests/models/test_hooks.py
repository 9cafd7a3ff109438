"""Every typed hook name is a real hook point of a HookedTransformer."""

import pytest

from grokscope.models import hooks
from grokscope.models.build import build_model
from grokscope.tasks import ModularTask

PER_LAYER = (
    hooks.resid_pre,
    hooks.resid_mid,
    hooks.resid_post,
    hooks.attn_q,
    hooks.attn_k,
    hooks.attn_v,
    hooks.attn_scores,
    hooks.attn_pattern,
    hooks.attn_z,
    hooks.attn_out,
    hooks.mlp_in,
    hooks.mlp_pre,
    hooks.mlp_post,
    hooks.mlp_out,
)
GLOBAL = (hooks.embed, hooks.pos_embed, hooks.unembed_in, hooks.logits)


@pytest.mark.parametrize("preset, n_layers", [("grok1l", 1), ("power2l", 2)])
def test_every_helper_names_a_hook_point(preset, n_layers):
    model = build_model(preset, ModularTask(p=7), seed=0)
    names = set(model.hook_dict)
    made = {fn() for fn in GLOBAL} | {fn(layer) for fn in PER_LAYER for layer in range(n_layers)}
    missing = made - names
    assert not missing, missing
    assert len(made) == len(GLOBAL) + len(PER_LAYER) * n_layers  # no two helpers name the same point


def test_shapes_documented_for_the_main_points():
    model = build_model("grok1l", ModularTask(p=7), seed=0)
    data = ModularTask(p=7).dataset()
    _, cache = model.run_with_cache(data.tokens())
    n = len(data.a)
    assert cache[hooks.mlp_post(0)].shape == (n, 3, model.cfg.d_mlp)
    assert cache[hooks.attn_z(0)].shape == (n, 3, model.cfg.n_heads, model.cfg.d_head)
    assert cache[hooks.attn_pattern(0)].shape == (n, model.cfg.n_heads, 3, 3)
    assert cache[hooks.logits()].shape == (n, 3, 7)


@pytest.mark.parametrize("bad", [-1, -3, True])  # wrong types are caught by the runtime type check
def test_bad_layer(bad):
    with pytest.raises(ValueError, match="layer index"):
        hooks.mlp_post(bad)
