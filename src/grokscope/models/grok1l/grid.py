"""The 1-layer model on the full ``(a, b)`` grid, for a whole stack of checkpoints at once.

Same maths as :func:`grokscope.models.grok1l.final_position.final_position_cache` (and so as
``HookedTransformer(tokens)[:, -1]``), reassociated for the grid: everything before the ReLU is
linear in the attention pattern, so the MLP pre-activation is

    pre[a, b] = base + sum_h pa[a,b,h] (Ta[a,h] - Teq[h]) + pb[a,b,h] (Tb[b,h] - Teq[h])

with ``Ta[a, h] = (value of token a at position 0, head h) @ W_O[h] @ W_in`` a ``(p, heads, d_mlp)``
table (likewise ``Tb``, ``Teq``) and ``pa + pb + peq = 1``. That replaces the per-example
``(d_model x d_mlp)`` matmul by a 4-term sum per neuron: about 10x fewer FLOPs before the ReLU.
The only per-example matmul left is ``mlp_post @ (W_out W_U)``. Tested against
``HookedTransformer.run_with_cache`` in ``tests/models/grok1l/test_parity.py``.
"""

import math
from typing import NamedTuple

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from grokscope.models.grok1l.params import Grok1LParams
from grokscope.numerics.workspace import Workspace


class GridCache(NamedTuple):
    """Final-position activations for every checkpoint ``c`` and pair ``(a, b)``."""

    pattern: Float[Tensor, "c p p n_heads 3"]  # blocks.0.attn.hook_pattern[:, :, -1], keys a, b, =
    mlp_post: Float[Tensor, "c p p d_mlp"]  # blocks.0.mlp.hook_post[:, -1]
    logits: Float[Tensor, "c p p d_vocab_out"]  # logits[:, -1]


def grid_cache(w: Grok1LParams, p: int, *, workspace: Workspace | None = None) -> GridCache:
    """Run the 1-layer, no-LayerNorm, ReLU model (``grok1l``) on all ``p^2`` inputs ``[a, b, =]``.

    ``w`` holds the parameters with a leading checkpoint axis
    (``Grok1LParams.from_state(run.stack().params)``, or ``.map(lambda t: t[None])`` for one model). Memory: a few ``(c, p, p, d_mlp)``
    float32 tensors; chunk the checkpoint axis for big stacks. With a ``workspace``, ``mlp_post``
    lives in its buffers (see :class:`Workspace`).
    """
    W_E, W_pos, W_Q, W_K, W_V, W_O = w.W_E, w.W_pos, w.W_Q, w.W_K, w.W_V, w.W_O
    b_Q, b_K, b_V, b_O = w.b_Q, w.b_K, w.b_V, w.b_O
    W_in, b_in, W_out, b_out, W_U, b_U = w.W_in, w.b_in, w.W_out, w.b_out, w.W_U, w.b_U

    # Residual stream of each (position, token): operands at positions 0 and 1, '=' at 2.
    tok = W_E[:, :p]
    resid = torch.stack([tok + W_pos[:, 0:1], tok + W_pos[:, 1:2]], dim=1)  # (c, 2, p, d)
    resid_eq = W_E[:, p] + W_pos[:, 2]  # (c, d)

    q = einops.einsum(resid_eq, W_Q, "c d, c h d k -> c h k") + b_Q
    keys = einops.einsum(resid, W_K, "c s x d, c h d k -> c s x h k") + b_K[:, None, None]
    k_eq = einops.einsum(resid_eq, W_K, "c d, c h d k -> c h k") + b_K
    scale = math.sqrt(W_Q.shape[-1])
    s_ab = einops.einsum(keys, q, "c s x h k, c h k -> c s x h") / scale  # (c, 2, p, h)
    s_eq = einops.einsum(k_eq, q, "c h k, c h k -> c h") / scale
    c, h = s_eq.shape
    # Softmax over the 3 key positions with the position axis first: three contiguous (c, a, b, h)
    # slabs, ~9x faster than torch.softmax over a last axis of size 3.
    scores = torch.stack(
        [
            s_ab[:, 0, :, None, :].expand(c, p, p, h),
            s_ab[:, 1, None, :, :].expand(c, p, p, h),
            s_eq[:, None, None, :].expand(c, p, p, h),
        ]
    )  # (3, c, a, b, h)
    top = torch.maximum(torch.maximum(scores[0], scores[1]), scores[2])
    weights = (scores - top).exp_()
    weights /= weights.sum(0)
    pa, pb = weights[0], weights[1]
    pattern = weights.movedim(0, -1)  # (c, a, b, h, 3): queries at '=', keys a, b, '='

    # Each head's output written to the residual stream, per (position, token), then read by W_in
    # and W_U. The '=' term is folded into the base using peq = 1 - pa - pb.
    vals = einops.einsum(resid, W_V, "c s x d, c h d k -> c s x h k") + b_V[:, None, None]
    v_eq = einops.einsum(resid_eq, W_V, "c d, c h d k -> c h k") + b_V
    ov = einops.einsum(vals, W_O, "c s x h k, c h k d -> c s x h d")
    ov_eq = einops.einsum(v_eq, W_O, "c h k, c h k d -> c h d")
    base = resid_eq + b_O + ov_eq.sum(1)  # (c, d): the residual when all attention is on '='
    rel = ov - ov_eq[:, None, None]  # (c, 2, p, h, d)

    # Contiguous (batch, rows, heads) operands for the batched matmuls below; a ones column
    # carries the constant term through the same matmul as the operand-a term.
    pa1 = torch.cat([pa, pa.new_ones(c, p, p, 1)], dim=-1).view(c * p, p, h + 1)  # rows (c, a), cols b
    pbT = pb.transpose(1, 2).contiguous().view(c * p, p, h)  # rows (c, b), cols a

    def read(W: Tensor, bias: Tensor, tag: str) -> Tensor:
        """``resid_mid[a, b] @ W + bias`` on the grid, via the per-token tables.

        The head sums are batched matmuls with inner size ``n_heads``: memory-bound, so the
        operand-b term is computed in (b, a) order and added through a transposed view, to keep
        the passes over the big output few.
        """
        n = W.shape[-1]
        table = einops.einsum(rel, W, "c s x h d, c d n -> c s x h n")
        const = (base[:, None, :] @ W).squeeze(1) + bias  # (c, n)
        table_a = torch.cat([table[:, 0], const[:, None, None, :].expand(c, p, 1, n)], dim=2)
        shape = (c * p, p, n)
        out_buf = workspace.get(f"{tag}.a", shape, W) if workspace is not None else None
        b_buf = workspace.get(f"{tag}.b", shape, W) if workspace is not None else None
        out = torch.bmm(pa1, table_a.reshape(c * p, h + 1, n), out=out_buf).view(c, p, p, n)
        from_b = torch.bmm(pbT, table[:, 1].reshape(c * p, h, n), out=b_buf).view(c, p, p, n)
        out += from_b.transpose(1, 2)
        return out

    mlp_post = read(W_in, b_in, "mlp").relu_()
    # W_out and W_U folded into W_L: the direct path and the MLP path share one unembedding.
    W_L = W_out @ W_U
    direct = read(W_U, (b_out[:, None, :] @ W_U).squeeze(1) + b_U, "unembed")
    # In place into the direct path's buffer: no fresh (p^2, d_vocab_out) allocation.
    logits = direct.view(c, p * p, -1).baddbmm_(mlp_post.view(c, p * p, -1), W_L).view(c, p, p, -1)
    return GridCache(pattern=pattern, mlp_post=mlp_post, logits=logits)
