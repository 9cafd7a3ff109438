"""Generation-based scores of the character-level tasks: arithmetic, facts, 0..19 extrapolation.

Two protocols (``mode``):

- ``"paper"``: what "Too Big to Think"'s evaluation code does. Arithmetic: 91 equations per
  operation (``b = 0`` skipped when ``a >= 1``, so the two held-out pairs per operation are 2 of
  91 and "98%" is 89/91), prompt ``<a+b=``, 4 new characters, the answer read by the regular
  expression below from prompt + continuation (so ``<5+7=12`` counts even without ``>``).
  Facts: prompt ``Capital of X is `` where the training text's "the USA"/"the UK" appear as
  "USA"/"UK" (the Netherlands keeps its "the"), 20 new characters, the first line stripped of
  spaces and a final ``.``, compared case-insensitively. 10 samples per prompt at temperature
  0.01, top-k 10 (effectively greedy).
- ``"clean"``: all 100 pairs per operation, prompts exactly as in the training text, the
  continuation must be the answer followed by the line's end (``>`` or the newline); usually run
  greedy with one sample.
"""

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from grokscope.tasks.vocab import CharVocab

ANSWER = re.compile(r"<\s*\d+\s*([+\-])\s*\d+\s*=\s*(-?\d+)")
if TYPE_CHECKING:
    import torch

EVAL_MODES = ("paper", "clean")
# The paper's evaluation prompts name these countries without the article of the training text.
PAPER_PROMPT_ALIASES = {"the USA": "USA", "the UK": "UK"}


def check_mode(mode: str) -> str:
    if mode not in EVAL_MODES:
        raise ValueError(f"unknown eval mode {mode!r}: choose one of {', '.join(EVAL_MODES)}")
    return mode


def arith_pairs(mode: str, lo: int = 0, hi: int = 9) -> list[tuple[int, int]]:
    pairs = [(a, b) for a in range(lo, hi + 1) for b in range(lo, hi + 1)]
    if mode == "paper":
        pairs = [(a, b) for a, b in pairs if not (b == 0 and a >= 1)]
    return pairs


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b


def _generate(
    model: Any, prompts: list[str], vocab: CharVocab, n_new: int, s: dict[str, Any], generator: "torch.Generator"
) -> list[str]:
    from grokscope.tasks.sampling import generate

    return generate(model, prompts, vocab, n_new, temperature=s["temperature"], top_k=s["top_k"], generator=generator)


def arith_correct(mode: str, prompt: str, continuation: str, answer: int) -> bool:
    if mode == "paper":
        m = ANSWER.search(prompt + continuation)
        return m is not None and int(m.group(2)) == answer
    return continuation.startswith(f"{answer}>")


def arith_answers(
    model: Any,
    vocab: CharVocab,
    *,
    mode: str,
    samples: int,
    temperature: float | int,
    top_k: int | None,
    generator: "torch.Generator",
    ops: str = "+-",
    lo: int = 0,
    hi: int = 9,
    only: Any = None,
) -> list[tuple[str, int, int, str, bool]]:
    """Every equation's generation as ``(op, a, b, continuation, correct)``, ``samples`` rows per
    pair, operations in ``ops`` order. ``only(a, b)`` (optional) restricts the pairs."""
    settings = {"temperature": temperature, "top_k": top_k}
    pairs = [p for p in arith_pairs(mode, lo, hi) if only is None or only(*p)]
    jobs = [(op, a, b) for op in ops for a, b in pairs for _ in range(samples)]
    prompts = [f"<{a}{op}{b}=" for op, a, b in jobs]
    conts = _generate(model, prompts, vocab, 4, settings, generator)
    return [
        (op, a, b, g, arith_correct(mode, p, g, _apply(op, a, b))) for (op, a, b), p, g in zip(jobs, prompts, conts)
    ]


def arith_eval(
    model: Any,
    vocab: CharVocab,
    *,
    mode: str,
    samples: int,
    temperature: float | int,
    top_k: int | None,
    generator: "torch.Generator",
    held_out: Sequence[tuple[int, int]] = (),
    ops: str = "+-",
    lo: int = 0,
    hi: int = 9,
    only: Any = None,
) -> dict[str, float | int]:
    """Addition/subtraction accuracy by generation; ``held_out`` pairs are also counted apart.

    ``only(a, b)`` (optional) restricts the pairs scored (the 0..19 test keeps two-digit ones).
    Returns ``{op}_correct``/``{op}_total``/``{op}_acc`` for ``add``/``sub``, ``heldout_correct``/
    ``heldout_total`` and ``math_correct``/``math_total``/``math_acc``.
    """
    rows = arith_answers(
        model,
        vocab,
        mode=mode,
        samples=samples,
        temperature=temperature,
        top_k=top_k,
        generator=generator,
        ops=ops,
        lo=lo,
        hi=hi,
        only=only,
    )
    held = {tuple(p) for p in held_out}
    out: dict[str, float | int] = {}
    for op, name in (("+", "add"), ("-", "sub")):
        if op in ops:
            oks = [ok for o, _, _, _, ok in rows if o == op]
            out |= {
                f"{name}_correct": sum(oks),
                f"{name}_total": len(oks),
                f"{name}_acc": sum(oks) / len(oks) if oks else 0.0,
            }
    held_oks = [ok for _, a, b, _, ok in rows if (a, b) in held]
    mc = sum(out.get(f"{n}_correct", 0) for n in ("add", "sub"))
    mt = sum(out.get(f"{n}_total", 0) for n in ("add", "sub"))
    out |= {
        "heldout_correct": sum(held_oks),
        "heldout_total": len(held_oks),
        "math_correct": mc,
        "math_total": mt,
        "math_acc": mc / mt if mt else 0.0,
    }
    return out


def facts_eval(
    model: Any,
    vocab: CharVocab,
    facts: Sequence[tuple[str, str]],
    *,
    mode: str,
    samples: int,
    temperature: float | int,
    top_k: int | None,
    generator: "torch.Generator",
) -> dict[str, float | int]:
    """Capital-city recall by generation: ``facts_correct``/``facts_total``/``facts_acc``."""
    settings = {"temperature": temperature, "top_k": top_k}
    jobs = [(country, capital) for country, capital in facts for _ in range(samples)]
    if mode == "paper":
        prompts = [f"Capital of {PAPER_PROMPT_ALIASES.get(c, c)} is " for c, _ in jobs]
        conts = _generate(model, prompts, vocab, 20, settings, generator)
        got = [(g.splitlines() or [""])[0].strip().rstrip(".").lower() for g in conts]
        correct = sum(g == cap.lower() for g, (_, cap) in zip(got, jobs))
    else:
        prompts = [f"Capital of {c} is " for c, _ in jobs]
        conts = _generate(model, prompts, vocab, len(max((cap for _, cap in facts), key=len)) + 2, settings, generator)
        correct = sum(g.startswith(f"{cap} \n") for g, (_, cap) in zip(conts, jobs))
    return {"facts_correct": correct, "facts_total": len(jobs), "facts_acc": correct / len(jobs) if jobs else 0.0}


def extrapolation_eval(
    model: Any,
    vocab: CharVocab,
    *,
    hi: int = 19,
    mode: str = "paper",
    samples: int = 1,
    temperature: float | int = 0.0,
    top_k: int | None = None,
    generator: "torch.Generator | None" = None,
) -> dict[str, float | int]:
    """Section 5.1: operands 0..``hi``, scoring only equations with a two-digit operand."""
    import torch

    return arith_eval(
        model,
        vocab,
        mode=mode,
        samples=samples,
        temperature=temperature,
        top_k=top_k,
        generator=generator or torch.Generator().manual_seed(0),
        lo=0,
        hi=hi,
        only=lambda a, b: a > 9 or b > 9,
    )
