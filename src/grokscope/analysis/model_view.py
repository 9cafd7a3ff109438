"""What the Fourier analysis and the ablations see of a run's model, and which forward computes it.

The analyses need, for every checkpoint, the MLP neurons and the logits at the final position on
all ``p^2`` pairs (a-major), and the weights ``W_E`` (the ``p`` residue rows), ``W_in``,
``W_out`` and ``W_U`` (the ``p`` residue classes). A :class:`ModelView` says how a run's model
gives them:

- **the grid forward** (:func:`grokscope.analysis.fourier.progress_measures.grid_forward`, fused
  kernels on CPU) for the 1-layer ReLU model without LayerNorm on ``[a, b, =]``, whatever its
  widths: every grokscope run, and imported models of that shape;
- **the TransformerLens forward** (``"hooked"``) for any other 1-layer model without LayerNorm:
  inputs ``[a, b]`` (no ``=`` token), another activation, bidirectional attention, the extra
  heads of an ``attn_coeff`` blend. Slower (a model per checkpoint), same numbers.

A model whose output layer also has the ``=`` class (``d_vocab_out = p + 1``, as in Nanda et al.'s
code) is analysed on the ``p`` residue classes, as that code does (``logits[..., :-1]``).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float
from torch import Tensor

from grokscope.models.grok1l.names import STATE_NAMES
from grokscope.models.grok1l.paths import supports

if TYPE_CHECKING:
    from grokscope.models.grok1l.params import Grok1LParams
    from grokscope.numerics.workspace import Workspace

GridForward = Callable[["Grok1LParams", int, "Workspace | None"],
                       tuple[Float[Tensor, "c p p d_mlp"], Float[Tensor, "c p p d_out"]]]


@dataclass(frozen=True)
class ModelView:
    """A run's model as the analyses see it: ``p``, the input format and the forward that runs."""

    p: int
    kwargs: dict[str, Any]  # HookedTransformerConfig keyword arguments, output classes cut to p
    input_format: str = "a_b_eq"
    trim_output: bool = False  # the stored model has p + 1 output classes

    @property
    def path(self) -> str:
        """``"grid"`` (the fast forward) or ``"hooked"`` (TransformerLens)."""
        fits = supports(self.kwargs) and self.input_format == "a_b_eq" and self.kwargs["d_vocab"] == self.p + 1
        return "grid" if fits else "hooked"

    def params(self, stack: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The analysed parameters of a checkpoint stack: the unembedding cut to the ``p`` residue classes."""
        if not self.trim_output:
            return dict(stack)
        W_U, b_U = STATE_NAMES["W_U"], STATE_NAMES["b_U"]
        return dict(stack) | {W_U: stack[W_U][..., : self.p], b_U: stack[b_U][..., : self.p]}

    def forward(self) -> GridForward:
        """``(mlp_post, logits)`` at the final position for a stack of checkpoints on all ``p^2`` pairs."""
        if self.path == "grid":
            from grokscope.analysis.fourier.progress_measures import grid_forward

            return grid_forward
        return self._hooked

    def tokens(self) -> Tensor:
        """Every pair, a-major, in the model's input format."""
        a = torch.arange(self.p).repeat_interleave(self.p)
        b = torch.arange(self.p).repeat(self.p)
        rows = [a, b] if self.input_format == "a_b" else [a, b, torch.full_like(a, self.p)]
        return torch.stack(rows, dim=1)

    def _hooked(self, w: "Grok1LParams", p: int, workspace: "Workspace | None" = None) -> tuple[Tensor, Tensor]:
        from grokscope.models.build import final_position, model_from_kwargs

        stack = w.to_state()
        n = len(w.W_E)
        tokens = self.tokens()
        posts, logits = [], []
        with torch.inference_mode():
            for c in range(n):
                model = model_from_kwargs(self.kwargs | {"dtype": w.W_E.dtype}, {k: v[c] for k, v in stack.items()})
                post, logit = final_position(model, tokens)
                posts.append(post.reshape(p, p, -1))
                logits.append(logit.reshape(p, p, -1))
        return torch.stack(posts), torch.stack(logits)


def model_view(config: Any) -> ModelView:
    """The view of a modular run's model (``run.config``), or a one-line ``ValueError`` when the
    analyses cannot read it (more than one layer, LayerNorm, a vocabulary that does not fit ``p``)."""
    task = config.task
    p = task.p
    kwargs = dict(config.model_kwargs())
    input_format = getattr(config, "input_format", "a_b_eq")
    name = getattr(config, "preset", "model")
    if kwargs.get("n_layers") != 1 or kwargs.get("normalization_type") is not None:
        raise ValueError(f"the Fourier analysis and the ablations read 1-layer models without LayerNorm; this run's "
                         f"model ({name}) has {kwargs.get('n_layers')} layer(s) and normalization "
                         f"{kwargs.get('normalization_type')}")
    want_in = p if input_format == "a_b" else p + 1
    if kwargs["d_vocab"] != want_in or kwargs["d_vocab_out"] not in (p, p + 1):
        raise ValueError(f"the model's vocabulary ({kwargs['d_vocab']} input tokens, {kwargs['d_vocab_out']} output "
                         f"classes) does not fit p={p} with inputs {input_format}: import it with the right --p")
    trim = kwargs["d_vocab_out"] == p + 1
    kwargs["d_vocab_out"] = p
    return ModelView(p=p, kwargs=kwargs, input_format=input_format, trim_output=trim)


__all__ = ["GridForward", "ModelView", "model_view"]
