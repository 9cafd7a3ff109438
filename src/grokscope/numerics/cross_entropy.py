"""Cross-entropy that keeps full relative precision for tiny losses, in the logits' dtype.

A grokked model's loss is ~1e-7. In float32, ``log_softmax`` rounds ``log(1 + 1e-7)`` and the
correct class's gradient ``p_y - 1`` to 0 while the other classes keep theirs: the gradient no
longer sums to zero, and training shows loss spikes. Casting the logits to float64 fixes that at
the price of a float64 copy and softmax per step. Written around the margins ``d_j = l_j - l_y``
instead, the loss is ``log1p(sum_j exp(d_j))`` when the correct class wins and the correct
class's gradient is ``-sum_{j != y} p_j``: both exact to float32 rounding, with no float64 pass.
"""

import torch
from jaxtyping import Float, Int
from torch import Tensor


def cross_entropy_and_grad(
    logits: Float[Tensor, "batch classes"], labels: Int[Tensor, " batch"]
) -> tuple[Float[Tensor, ""], Float[Tensor, "batch classes"]]:
    """The mean cross-entropy (float64 scalar) and its gradient with respect to ``logits``, without autograd."""
    with torch.no_grad():
        idx = labels.unsqueeze(-1)
        diff = logits - logits.gather(-1, idx)  # d_j = l_j - l_y, 0 at j = y
        diff.scatter_(-1, idx, float("-inf"))
        top = diff.amax(-1, keepdim=True).clamp_min(0)  # shift only when some class beats y
        e = (diff - top).exp_()  # exp(d_j - top), 0 at j = y
        rest = e.sum(-1, keepdim=True)
        own = (-top).exp_()  # the correct class's term, exp(0 - top)
        z = own + rest
        per_row = torch.where(top == 0, torch.log1p(rest), top + torch.log(z)).squeeze(-1)
        grad = e.div_(z * logits.shape[0])  # p_j / N for j != y
        # (p_y - 1) / N = -sum_{j != y} p_j / N: no cancellation
        grad.scatter_(-1, idx, -(rest / (z * logits.shape[0])))
        return per_row.double().mean(), grad


class _MarginCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor) -> Tensor:
        loss, grad = cross_entropy_and_grad(logits, labels)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_out.to(grad.dtype), None


def cross_entropy(logits: Float[Tensor, "batch classes"], labels: Int[Tensor, " batch"]) -> Float[Tensor, ""]:
    """Mean cross-entropy as a float64 scalar; forward and gradient exact to the logits' precision.

    Equals ``F.cross_entropy(logits.double(), labels)`` to float32 rounding, relative to each
    term, however small the loss (tested).
    """
    return _MarginCrossEntropy.apply(logits, labels)
