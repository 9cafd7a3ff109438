"""The nanoGPT-style character models' forward in a handful of fused PyTorch ops.

``HookedTransformer`` routes every activation through a hook point, computes attention with
einsums, an explicit mask and a softmax over rows of 9 to 24 keys, and LayerNorm as five
elementwise ops. For the tiny n-models (d_model 14 to 56) those per-op costs are the whole step,
two thirds of it in autograd's backward over ~100 small nodes. Here the same maths runs on the same parameter tensors with
``F.layer_norm``, ``F.scaled_dot_product_attention`` (causal, scaled by ``1/sqrt(d_head)`` like
``use_attn_scale``) and ``F.gelu``; gradients reach the model's own parameters, so the trainer,
its optimizer and checkpoints are unchanged. Tested equal to ``HookedTransformer`` (logits and
gradients) in ``tests/models/test_lm_fast.py``.

Used only where it is the same model: pre-LN blocks, exact GELU, learned positions, causal
attention, no dropout, and every attention/MLP/unembedding bias zero (nanoGPT's ``bias=False``;
the presets freeze them at zero, see :mod:`.nanogpt`).
"""

from collections.abc import Mapping
from typing import Any

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

# Biases the fused forward leaves out (it checks they are zero); LayerNorm biases are used.
_SKIPPED_BIASES = ("attn.b_Q", "attn.b_K", "attn.b_V", "attn.b_O", "mlp.b_in", "mlp.b_out")


def supports_lm_fast_path(cfg: Any, params: Mapping[str, Tensor], dropout: float) -> bool:
    """Whether :func:`lm_logits` computes what ``HookedTransformer(cfg)`` with ``params`` computes."""
    shape_ok = (
        cfg.normalization_type == "LN"
        and cfg.act_fn == "gelu"
        and not cfg.attn_only
        and cfg.positional_embedding_type == "standard"
        and cfg.use_attn_scale
        and cfg.attention_dir == "causal"
        and not cfg.gated_mlp
        and not getattr(cfg, "use_split_qkv_input", False)
        and not getattr(cfg, "parallel_attn_mlp", False)
        and getattr(cfg, "n_key_value_heads", None) is None
        and dropout == 0
    )
    if not shape_ok:
        return False
    biases = [params[f"blocks.{i}.{b}"] for i in range(cfg.n_layers) for b in _SKIPPED_BIASES]
    biases.append(params["unembed.b_U"])
    # Frozen at zero by the nanoGPT presets, so checking once before training is enough.
    return all(not b.requires_grad and not b.any() for b in biases)


def lm_logits(
    params: Mapping[str, Tensor], tokens: Int[Tensor, "batch pos"], *, n_layers: int, eps: float
) -> Float[Tensor, "batch pos d_vocab_out"]:
    """Logits at every position, as ``HookedTransformer(tokens)`` (see module docstring)."""
    W_E = params["embed.W_E"]
    d_model = W_E.shape[1]
    x = F.embedding(tokens, W_E) + params["pos_embed.W_pos"][: tokens.shape[1]]
    for i in range(n_layers):
        blk = f"blocks.{i}."
        W_Q, W_K, W_V, W_O = (params[f"{blk}attn.W_{n}"] for n in "QKVO")
        n_heads = W_Q.shape[0]
        h = F.layer_norm(x, (d_model,), params[f"{blk}ln1.w"], params[f"{blk}ln1.b"], eps)
        W_qkv = einops.rearrange(torch.stack([W_Q, W_K, W_V]), "t h d k -> d (t h k)")
        q, k, v = einops.rearrange(h @ W_qkv, "b s (t h k) -> t b h s k", t=3, h=n_heads)
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + einops.rearrange(z, "b h s k -> b s (h k)") @ einops.rearrange(W_O, "h k d -> (h k) d")
        h = F.layer_norm(x, (d_model,), params[f"{blk}ln2.w"], params[f"{blk}ln2.b"], eps)
        x = x + F.gelu(h @ params[f"{blk}mlp.W_in"]) @ params[f"{blk}mlp.W_out"]
    x = F.layer_norm(x, (d_model,), params["ln_final.w"], params["ln_final.b"], eps)
    return x @ params["unembed.W_U"]


__all__ = ["lm_logits", "supports_lm_fast_path"]
