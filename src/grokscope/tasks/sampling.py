"""Batched sampling from a character-level ``HookedTransformer``, equal to one prompt at a time.

Prompts are grouped by length (no padding, so no attention masks or shifted positions), and the
context is cropped to the model's ``n_ctx`` once it grows past it, as nanoGPT's ``generate`` does.
Sampling draws every prompt's uniforms up front, in prompt order, and picks tokens by inverse CDF:
so the random stream, and therefore the result, does not depend on how prompts are batched.
"""

from collections import defaultdict
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float, Int
from torch import Tensor

from grokscope.tasks.vocab import CharVocab

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


def pick_tokens(
    logits: Float[Tensor, "batch vocab"], temperature: float | int, top_k: int | None, u: Float[Tensor, " batch"] | None
) -> Int[Tensor, " batch"]:
    """Next tokens: argmax when ``temperature == 0``, else inverse-CDF sampling with uniforms ``u``.

    ``top_k`` keeps the ``k`` largest logits (ties at the k-th value are kept, as in nanoGPT).
    """
    if temperature == 0:
        return logits.argmax(-1)
    if u is None:
        raise ValueError("sampling (temperature > 0) needs uniforms u")
    logits = logits.double() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    cdf = torch.softmax(logits, dim=-1).cumsum(-1)
    idx = torch.searchsorted(cdf, (u.double() * cdf[:, -1])[:, None]).squeeze(-1)
    return idx.clamp_(max=logits.shape[-1] - 1)


@torch.no_grad()
def generate(
    model: "HookedTransformer",
    prompts: list[str],
    vocab: CharVocab,
    max_new_tokens: int,
    *,
    temperature: float | int = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    stop: str | None = None,
) -> list[str]:
    """The continuation of each prompt (prompt not included), ``max_new_tokens`` characters at most.

    ``temperature=0`` is greedy. ``stop``: a continuation ends just before the first occurrence
    of this string (which is not returned). The model runs in eval mode (no dropout) and is put
    back in its previous mode afterwards. Equal prompts may repeat (e.g. 10 samples each).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("prompts must not be empty (the model needs at least one character of context)")
    encoded = [vocab.encode(p) for p in prompts]
    if not prompts:
        return []
    device = next(iter(model.parameters())).device
    n_ctx = model.cfg.n_ctx
    u = None
    if temperature > 0:
        u = torch.rand(len(prompts), max(max_new_tokens, 1), generator=generator, dtype=torch.float64)

    groups: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(encoded):
        groups[len(ids)].append(i)
    out: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        for idx in groups.values():
            toks = torch.tensor([encoded[i] for i in idx], dtype=torch.long, device=device)
            start = toks.shape[1]
            for t in range(max_new_tokens):
                logits = model(toks[:, -n_ctx:])[:, -1].float()
                rows_u = None if u is None else u[idx, t].to(device)
                toks = torch.cat([toks, pick_tokens(logits, temperature, top_k, rows_u)[:, None]], dim=1)
                if stop is not None and t + 1 >= len(stop):
                    texts = [vocab.decode(r) for r in toks[:, start:].tolist()]
                    if all(stop in s for s in texts):
                        break
            for i, row in zip(idx, toks[:, start:].tolist()):
                text = vocab.decode(row)
                out[i] = text.split(stop, 1)[0] if stop else text
    finally:
        model.train(was_training)
    return out
