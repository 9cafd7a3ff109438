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

**Multiplication and division** (``mul``, ``div`` mod a prime ``p``) are addition and subtraction
in disguise: the nonzero residues form a cyclic group of order ``n = p - 1``, so with a generator
``g`` (the smallest primitive root) every ``a != 0`` is ``g^i`` and ``a * b = g^(i + j)``,
``a / b = g^(i - j)``. The view relabels the model through that discrete logarithm: embedding
rows ``W_E[g^0], ..., W_E[g^(n-1)]`` (then ``=``), output columns ``W_U[:, g^0], ...``; the
analyses then see a model of ``i + j`` (or ``i - j``) mod ``n`` and run unchanged, in the log
basis. The pairs with ``a = 0`` or ``b = 0`` (whose answer is 0, outside the group) and the
output class 0 are left out: losses are over the ``n^2`` pairs of nonzero residues and the ``n``
nonzero classes. ``n`` is even, so the basis has the frequency ``n/2`` (see ``basis.py``).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from grokscope.analysis.cyclic import check_cyclic
from grokscope.models.grok1l.names import STATE_NAMES
from grokscope.models.grok1l.paths import supports

if TYPE_CHECKING:
    from grokscope.models.grok1l.params import Grok1LParams
    from grokscope.numerics.workspace import Workspace

GridForward = Callable[
    ["Grok1LParams", int, "Workspace | None"], tuple[Float[Tensor, "c p p d_mlp"], Float[Tensor, "c p p d_out"]]
]


@dataclass(frozen=True)
class ModelView:
    """A run's model as the analyses see it: ``p``, the input format and the forward that runs."""

    p: int  # the analysed modulus: the task's p, or p - 1 in the log view
    kwargs: dict[str, Any]  # HookedTransformerConfig keyword arguments of the analysed (relabelled) model
    input_format: str = "a_b_eq"
    trim_output: bool = False  # the stored model has one more output class ('=')
    powers: tuple[int, ...] | None = None  # the log view: powers[i] = g^i mod the task's p
    op: Literal["add", "sub"] = "add"  # the analysed operation: add or sub (mul and div become them in the log view)

    @property
    def generator(self) -> int | None:
        """``g`` of the log view (``None`` for add and sub runs)."""
        return None if self.powers is None else self.powers[1]

    @property
    def path(self) -> str:
        """``"grid"`` (the fast forward) or ``"hooked"`` (TransformerLens)."""
        fits = supports(self.kwargs) and self.input_format == "a_b_eq" and self.kwargs["d_vocab"] == self.p + 1
        return "grid" if fits else "hooked"

    def params(self, stack: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The analysed parameters of a checkpoint stack: the unembedding cut to the residue classes,
        and in the log view the residues relabelled by their discrete logarithm."""
        W_E, W_U, b_U = STATE_NAMES["W_E"], STATE_NAMES["W_U"], STATE_NAMES["b_U"]
        out = dict(stack)
        if self.powers is None:
            classes = list(range(self.p))
        else:
            source_p = self.p + 1
            rows = list(self.powers) + ([source_p] if self.input_format == "a_b_eq" else [])  # then '='
            out[W_E] = stack[W_E][..., rows, :]
            classes = list(self.powers)
        if self.trim_output or self.powers is not None:
            out[W_U] = stack[W_U][..., classes]
            out[b_U] = stack[b_U][..., classes]
        return out

    def dataset(self, task: Any) -> Any:
        """The analysed pairs: ``task.dataset()``, or in the log view its pairs of nonzero residues as
        ``(log a, log b)`` (a-major over the ``n^2`` grid) with their labels and train/test sides."""
        data = task.dataset()
        if self.powers is None:
            return data
        from grokscope.tasks import ModularTask
        from grokscope.tasks.modular_data import ModularData

        n = self.p
        log = torch.full((n + 1,), -1, dtype=torch.long)
        log[torch.tensor(self.powers)] = torch.arange(n)
        keep = (data.a != 0) & (data.b != 0)
        index = torch.full((len(data.a),), -1, dtype=torch.long)
        index[keep] = log[data.a[keep]] * n + log[data.b[keep]]  # where each original pair lands
        side = torch.zeros(n * n, dtype=torch.long)  # 1 train, 2 test
        side[index[data.train_idx][keep[data.train_idx]]] = 1
        side[index[data.test_idx][keep[data.test_idx]]] = 2
        i, j = torch.arange(n).repeat_interleave(n), torch.arange(n).repeat(n)
        labels = (i + j) % n if self.op == "add" else (i - j) % n
        return ModularData(
            ModularTask(p=n, op=self.op), i, j, labels, (side == 1).nonzero().flatten(), (side == 2).nonzero().flatten()
        )

    def forward(self) -> GridForward:
        """``(mlp_post, logits)`` at the final position for a stack of checkpoints on all ``p^2`` pairs."""
        if self.path == "grid":
            from grokscope.analysis.fourier.progress_measures import grid_forward

            return grid_forward
        return self._hooked

    def describe(self) -> str:
        """The basis in words, for reports."""
        if self.powers is None:
            return f"residues mod {self.p}"
        return (
            f"discrete logarithm base {self.generator} (mod {self.p + 1}: a = {self.generator}^i), so "
            f"frequencies are of i + j mod {self.p}; pairs with a zero operand left out"
        )

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
    op = getattr(task, "op", "add")

    check_cyclic(op, task.name)
    kwargs = dict(config.model_kwargs())
    input_format = getattr(config, "input_format", "a_b_eq")
    name = getattr(config, "preset", "model")
    if kwargs.get("n_layers") != 1 or kwargs.get("normalization_type") is not None:
        raise ValueError(
            f"the Fourier analysis and the ablations read 1-layer models without LayerNorm; this run's "
            f"model ({name}) has {kwargs.get('n_layers')} layer(s) and normalization "
            f"{kwargs.get('normalization_type')}"
        )
    want_in = p if input_format == "a_b" else p + 1
    if kwargs["d_vocab"] != want_in or kwargs["d_vocab_out"] not in (p, p + 1):
        raise ValueError(
            f"the model's vocabulary ({kwargs['d_vocab']} input tokens, {kwargs['d_vocab_out']} output "
            f"classes) does not fit p={p} with inputs {input_format}: import it with the right --p"
        )
    trim = kwargs["d_vocab_out"] == p + 1
    if op in ("add", "sub"):
        kwargs["d_vocab_out"] = p
        return ModelView(
            p=p, kwargs=kwargs, input_format=input_format, trim_output=trim, op="add" if op == "add" else "sub"
        )
    g = primitive_root(p)
    n = p - 1
    kwargs |= {"d_vocab": n + 1 if input_format == "a_b_eq" else n, "d_vocab_out": n}
    return ModelView(
        p=n,
        kwargs=kwargs,
        input_format=input_format,
        trim_output=trim,
        powers=tuple(pow(g, i, p) for i in range(n)),
        op="add" if op == "mul" else "sub",
    )


def primitive_root(p: int) -> int:
    """The smallest generator of the multiplicative group mod the prime ``p``."""
    from grokscope.tasks import is_prime

    if not is_prime(p):
        raise ValueError(
            f"mul and div are analysed in the discrete-log basis, which needs a prime p, not {p}: train with "
            "a prime modulus (e.g. --task mod97-mul), or analyse add or sub runs, which any p supports"
        )
    n = p - 1
    factors = {q for q in range(2, n + 1) if n % q == 0 and is_prime(q)}
    return next(g for g in range(2, p) if all(pow(g, n // q, p) != 1 for q in factors)) if p > 2 else 1


__all__ = ["GridForward", "ModelView", "model_view", "primitive_root"]
