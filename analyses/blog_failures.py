"""Reproduce "Why arithmetic models look dumb long after they've learned the rule" end to end.

    python analyses/blog_failures.py           # word ops 0..999, power2l, 3,000 steps (CPU: ~15 min)
    python analyses/blog_failures.py --tiny    # operands 0..20 in seconds (the test suite runs this)

The blog post fine-tunes DistilGPT-2 on ``SUM 568 390``,
``SUBTRACT 190 498``, ``MULTIPLY 974 915``, ``DIVIDE 845 79`` and finds exact match hides what the
model knows: the operation, sign and magnitude, the first digits, but no stop. Its weights cannot
be downloaded here, so this trains a small transformer from scratch (``grokscope train --task
wordops --init-from DIR`` starts from any local TransformerLens model folder instead), then:

1. scores the blog's own five outputs with the behavioural metrics (what each metric says),
2. scores the run's greedy answers at every checkpoint (``grokscope analyze behavior``) and
   reports the period where exact match is near zero while digit accuracy or magnitude
   correctness is above chance,
3. asks the trained model the blog's five questions.

The run goes to ``--runs`` (an identical finished run there is reused), the report to
``--out/<run>.html`` and the summary to ``--out/blog_failures.json``.
"""

import argparse
import json
import sys
from pathlib import Path

from grokscope.analysis.behavior.examples import BehaviorExample
from grokscope.analysis.behavior.over_checkpoints import BehaviorConfig, analyze_behavior, score_generations
from grokscope.analysis.behavior.report import gap_sentence, write_report
from grokscope.analysis.behavior.score import score_answer
from grokscope.config.lm import WORD_OPS_PRESET, WORD_OPS_TRAIN, LMRunConfig, LMTrainConfig
from grokscope.tasks.word_ops import WordOpsTask
from grokscope.tasks.word_ops_blog import BLOG_OUTPUTS
from grokscope.training.callbacks import ProgressBar
from grokscope.training.train import train

SETTINGS = {
    # Operands 0..999 as in the blog, DIVIDE to 2 places (the blog prints up to 9), 10k problems
    # (the blog's "~10k examples"), a 2-layer 0.4M-parameter model: minutes on a CPU.
    "full": (
        LMRunConfig(
            task=WordOpsTask(decimals=2, n_train=10_000, n_test=1_000, batch_size=64),
            preset=WORD_OPS_PRESET,
            seed=0,
            train=LMTrainConfig(**WORD_OPS_TRAIN),
        ),
        BehaviorConfig(per_group=40, max_checkpoints=30),
    ),
    "tiny": (
        LMRunConfig(
            task=WordOpsTask(low=0, high=20, decimals=1, n_train=300, n_test=60, batch_size=32),
            preset="n28",
            seed=0,
            train=LMTrainConfig(
                steps=60, lr=3e-3, min_lr=1e-4, warmup=5, lr_decay_steps=60, eval_every=20, eval_iters=1, ckpt_every=20
            ),
        ),
        BehaviorConfig(per_group=8, max_checkpoints=5),
    ),
}

BLOG = BLOG_OUTPUTS  # operation, operands, decimals, its model's output, what the post observed


def blog_table() -> list[dict]:
    """The blog's five outputs against their targets (at the blog's precision), every metric."""
    rows = []
    for op, a, b, decimals, output, observed in BLOG:
        task = WordOpsTask(decimals=decimals, n_train=1, n_test=1)
        s = score_answer(output, task.answer(op, a, b), op=op, candidates=task.candidates(a, b))
        rows.append({"question": f"{op} {a} {b}", "blog_says": observed} | s.to_dict())
    return rows


def ask_blog_questions(run, task: WordOpsTask) -> list[dict]:
    """The trained model's greedy answers to the blog's five questions (operands clipped to the task's range)."""
    from grokscope.analysis.behavior.over_checkpoints import answer_examples

    exs = []
    for op, a, b, *_ in BLOG:
        if op not in task.ops:
            continue
        a, b = (min(max(v, task.low), task.high) for v in (a, b))
        if op == "DIVIDE" and b == 0:
            b = 1
        exs.append(
            BehaviorExample(
                prompt=task.prompt(op, a, b),
                target=task.answer(op, a, b),
                end=task.end,
                group=op,
                split="asked",
                candidates=task.candidates(a, b),
            )
        )
    gens = answer_examples(run.model(run.steps[-1]), exs, task.vocab)
    return [
        {"prompt": e.prompt, "target": e.target, "answer": s.answer, "observation": s.description}
        for e, s in zip(exs, score_generations(exs, gens))
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a seconds-long run (operands 0..20)")
    ap.add_argument("--runs", type=Path, default=Path("checkpoints"), help="folder of runs")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="folder for the report and summary")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    config, bconfig = SETTINGS["tiny" if args.tiny else "full"]

    print("The blog's five outputs, scored:")
    table = blog_table()
    for r in table:
        print(
            f"  {r['question']:<18} {r['answer']:>17} for {r['target']:<13} blog: {r['blog_says']:<38} "
            f"here: {r['description']} (digits {r['digit_accuracy']:.2f}, sign {r['sign_correct']}, "
            f"magnitude {r['magnitude_correct']}, termination {r['termination']}, right op "
            f"{r['operation_consistent']})"
        )

    print(
        f"training {config.task.name} ({config.preset}, {config.train.steps} steps) into {args.runs} "
        "(an identical finished run is reused)",
        flush=True,
    )
    run = train(config, args.runs, device=args.device, callbacks=[] if args.tiny else [ProgressBar()])
    ba = analyze_behavior(run, config=bconfig)
    args.out.mkdir(parents=True, exist_ok=True)
    report = write_report(ba, args.out / f"{run.name}.html")
    summary = ba.summary()
    print("\nOver training (test questions):")
    for g, gap in summary["gaps"].items():
        print("  " + gap_sentence(gap, "all operations" if g == "all" else g))
    asked = ask_blog_questions(run, config.task)
    print(f"\nThe blog's questions, asked at step {run.steps[-1]}:")
    for r in asked:
        print(f"  {r['prompt']:<20} {r['answer']!r:<16} for {r['target']!r:<12} {r['observation']}")
    out = {
        "setting": "tiny" if args.tiny else "full",
        "run": str(run.path),
        "report": str(report),
        "blog_table": table,
        "asked": asked,
        "behavior": summary,
    }
    (args.out / "blog_failures.json").write_text(json.dumps(out, indent=1))
    print(f"\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
