"""nanoGPT's conventions on a ``HookedTransformer``: no biases, tied embeddings, its init, dropout.

TransformerLens has no switch for any of these, so they are applied to the parameters (a state
dict by TransformerLens name) and, for dropout, to a built model's hook points:

- **No biases**: every ``b_*`` parameter (attention, MLP, unembed, and the LayerNorm bias) is
  zero and frozen (``requires_grad=False``). The model computes exactly what nanoGPT's
  ``bias=False`` model computes; the zero tensors stay in the state dict so TransformerLens
  tools load checkpoints unchanged.
- **Tied embeddings** (nanoGPT's ``wte.weight is lm_head.weight``): ``W_U`` is kept equal to
  ``W_E.T``. The trainer adds ``W_U``'s gradient into ``W_E``'s (:func:`tie_grads_`), steps only
  ``W_E`` and copies it back into ``W_U`` (:func:`sync_tied_`): the same update as one shared
  tensor. Checkpoints hold both, equal, so ``Run.model()`` is a plain TransformerLens model.
- **Init**: N(0, 0.02) for every matrix and both embeddings, N(0, 0.02/sqrt(2 n_layers)) for the
  two residual-output projections (``W_O``, ``W_out``, nanoGPT's ``c_proj``), LayerNorm weight 1.
- **Dropout** (:func:`add_dropout_hooks`) at nanoGPT's four places, through hook points, active
  only while the model is in training mode.

No TransformerLens import here: a model is only used through its hook points.
"""

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from grokscope.models.counts import is_bias

RESIDUAL_OUT = ("attn.W_O", "mlp.W_out")


def nanogpt_init(state: Mapping[str, Tensor], generator: torch.Generator, *, n_layers: int) -> None:
    """Re-initialise the tensors of ``state`` in place as nanoGPT's ``GPT.__init__`` does (see module docstring).

    ``state`` is by TransformerLens name, in ``named_parameters()`` order (the order of the draws).
    """
    std = 0.02
    proj_std = 0.02 / math.sqrt(2 * n_layers)
    tied = is_tied(state)
    with torch.no_grad():
        for name, p in state.items():
            if is_bias(name):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_final"):
                p.fill_(1.0)
            elif name == "unembed.W_U" and tied:
                continue  # tied: copied from W_E below
            else:
                s = proj_std if name.endswith(RESIDUAL_OUT) else std
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * s)
        if tied:  # modular tasks have p + 1 input tokens but p outputs: nothing to tie
            sync_tied_(state)


def freeze_biases_(params: Mapping[str, Tensor]) -> None:
    """Zero and freeze every bias, so the model is nanoGPT's ``bias=False`` model."""
    with torch.no_grad():
        for name, p in params.items():
            if is_bias(name):
                p.zero_()
                p.requires_grad_(False)


def is_tied(state: Mapping[str, Any]) -> bool:
    """Whether input and output vocabularies agree, so that ``W_U`` is ``W_E.T`` (tensors or shapes)."""
    shape = lambda x: tuple(x.shape) if hasattr(x, "shape") else tuple(x)  # noqa: E731
    return shape(state["embed.W_E"])[0] == shape(state["unembed.W_U"])[1]


def tie_grads_(params: Mapping[str, Tensor]) -> None:
    """Fold ``W_U``'s gradient into ``W_E``'s (d loss / d shared weight) and drop ``W_U``'s."""
    w_u, w_e = params["unembed.W_U"], params["embed.W_E"]
    if w_u.grad is not None:
        assert w_e.grad is not None  # the loss reads the shared weight at both ends
        w_e.grad.add_(w_u.grad.T)
        w_u.grad = None


def sync_tied_(params: Mapping[str, Tensor]) -> None:
    """Copy ``W_E.T`` into ``W_U`` (after every optimizer step and on load)."""
    with torch.no_grad():
        params["unembed.W_U"].copy_(params["embed.W_E"].T)


def optimizer_groups(params: Mapping[str, Tensor], weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's ``configure_optimizers``: decay tensors with >= 2 dims, not the rest.

    Frozen biases and the tied ``W_U`` are left out (the shared weight is ``W_E``).
    LayerNorm weights are 1-d and so are not decayed; embeddings are 2-d and are.
    """
    decay: list[Tensor] = []
    no_decay: list[Tensor] = []
    for name, p in params.items():
        if not p.requires_grad or name == "unembed.W_U":
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def dropout_hook_names(n_layers: int) -> list[str]:
    """Where nanoGPT applies dropout, as TransformerLens hook points.

    ``transformer.drop(tok_emb + pos_emb)`` is ``blocks.0.hook_resid_pre``; per block,
    ``attn_dropout`` on the softmaxed attention is ``attn.hook_pattern``, ``resid_dropout`` after
    the attention projection is ``hook_attn_out`` and the MLP's dropout is ``hook_mlp_out``.
    """
    names = ["blocks.0.hook_resid_pre"]
    for layer in range(n_layers):
        names += [f"blocks.{layer}.attn.hook_pattern", f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_mlp_out"]
    return names


def add_dropout_hooks(model: Any, p: float, names: Iterable[str] | None = None) -> None:
    """Permanent hooks applying dropout ``p`` at nanoGPT's places, only in training mode.

    In eval mode (``model.eval()``, as ``Run.model`` and ``generate`` use) the hooks are the
    identity, so outputs are exactly those of the plain model. Draws from the global torch RNG,
    like ``nn.Dropout``; the LM trainer seeds it and saves its state in resume files.
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1), got {p}")
    if p == 0:
        return

    def drop(x: torch.Tensor, hook: Any) -> torch.Tensor:
        return F.dropout(x, p, training=hook.training)

    for name in names or dropout_hook_names(model.cfg.n_layers):
        model.add_hook(name, drop, is_permanent=True)
