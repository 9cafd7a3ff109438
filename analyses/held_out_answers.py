"""What a capacity-suite model answers, equation by equation, at its best checkpoint.

The tables of ``too_big_to_think.py`` give counts (add 89/91, held-out 10/40); this shows which
equations are behind them: the four held-out (5,7) expressions with the model's answers, and every
other addition or subtraction it gets wrong. Greedy decoding on the paper's 91 + 91 prompts (the
paper samples at temperature 0.01, top-k 10, which picks the same character but for near ties).

    python analyses/held_out_answers.py analyses/results/runs/arith-n14-paper [RUN ...] [--step N]

A run needs the checkpoint of the step it reads (run.json and metrics.jsonl alone are not enough).
"""

import argparse
import sys
from pathlib import Path

import torch

from grokscope.store.run import Run
from grokscope.tasks.char_eval import ANSWER, arith_answers


def answers(run: Run, step: int) -> tuple[list[str], list[str]]:
    """``(held_out, misses)``: ``5+7=12 ok``-style strings for the held-out expressions, and the
    other equations answered wrong, at ``step``."""
    arith = getattr(run.task, "arith", run.task)  # the joint task's arithmetic half
    rows = arith_answers(
        run.model(step), run.task.vocab, mode="paper", samples=1, temperature=0, top_k=None, generator=torch.Generator()
    )
    held, misses = [], []
    for op, a, b, cont, right in rows:
        m = ANSWER.search(f"<{a}{op}{b}={cont}")
        eq = f"{a}{op}{b}={m.group(2) if m else repr(cont)}"
        if arith.is_held_out(a, b):
            held.append(f"{eq} {'ok' if right else 'wrong'}")
        elif not right:
            misses.append(eq)
    return held, misses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--step", type=int, help="this step instead of each run's best")
    args = ap.parse_args(argv)
    for path in args.runs:
        try:
            run = Run(path)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        step = run.best_step if args.step is None else args.step
        if step not in run.steps:
            print(
                f"error: {path} has no checkpoint at step {step}: pass a run folder with its checkpoints",
                file=sys.stderr,
            )
            return 2
        held, misses = answers(run, step)
        print(
            f"{path.name} step {step}: held-out {', '.join(held)}; other misses ({len(misses)}): "
            f"{' '.join(misses) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
