"""Reproduce "steps to generalize against the training fraction" (Power et al. 2022, Figure 1 right;
Nanda et al. 2023's a+b mod 113) with grokscope's sweep engine.

    python analyses/fraction_sweep.py                              # fractions 0.25..0.8, seeds 0..2, mod 113
    python analyses/fraction_sweep.py --fracs 0.3,0.5 --seeds 0..1 --steps 5000
    python analyses/fraction_sweep.py --backend ray                # the same runs as Ray tasks
    python analyses/fraction_sweep.py --tiny                       # seconds: a smoke run of the pipeline

Every run is Nanda et al.'s set-up (the 1-layer model, AdamW lr 1e-3, weight decay 1, full batch)
on a+b mod ``--p`` with its share of the pairs for training; it stops ``--stop-after-grok`` steps
after test accuracy first reaches 99%, or at ``--steps``. The sweep folder (``--runs``) is an
ordinary ``grokscope sweep`` folder: the same command started again continues it, and
``grokscope sweep report`` / ``gs.load_sweep`` open it. Writes the sweep's HTML report and a
Markdown table (per fraction: steps to 99% test accuracy, median and range over seeds, and how
many seeds generalised within the budget) to ``--out``.
"""

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=113, help="the modulus")
    ap.add_argument(
        "--fracs",
        default="0.25,0.3,0.4,0.5,0.6,0.7,0.8",
        help="training fractions: a list, or LOW:HIGH:linN (grokscope sweep syntax)",
    )
    ap.add_argument("--seeds", default="0..2", help="seeds: a list or LOW..HIGH")
    ap.add_argument("--steps", type=int, default=20_000, help="most steps a run trains")
    ap.add_argument("--stop-after-grok", type=int, default=500, help="steps kept after test accuracy reaches 99%%")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--workers", type=int, default=None, help="runs side by side (default: cores / threads)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    ap.add_argument("--backend", default="local", choices=("local", "ray"))
    ap.add_argument("--address", default=None, help="--backend ray: the cluster's address")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--analyze", action="store_true", help="add each run's Fourier analysis (key frequencies)")
    ap.add_argument("--runs", type=Path, default=None, help="the sweep folder (default runs/fraction_sweep-p<p>)")
    ap.add_argument("--out", type=Path, default=Path("reports/fraction_sweep"))
    ap.add_argument("--tiny", action="store_true", help="mod 23, fractions 0.5 and 0.8, 1 seed, 800 steps: seconds")
    args = ap.parse_args(argv)
    if args.tiny:
        args.p, args.fracs, args.seeds, args.steps, args.eval_every, args.ckpt_every = 23, "0.5,0.8", "0", 800, 20, 100
    try:
        return run(args)
    except ValueError as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from grokscope.sweeps.engine import run_sweep
    from grokscope.sweeps.handle import load_sweep
    from grokscope.sweeps.progress import SweepLog
    from grokscope.sweeps.spec import spec_from_options

    spec = spec_from_options(
        {
            "task": f"mod{args.p}",
            "frac": args.fracs,
            "seed": args.seeds,
            "steps": args.steps,
            "stop_after_grok": args.stop_after_grok,
            "eval_every": args.eval_every,
            "ckpt_every": args.ckpt_every,
        }
    )
    folder = args.runs or Path("runs") / (f"fraction_sweep-p{args.p}" + ("-tiny" if args.tiny else ""))
    print(f"{spec.describe()} in {folder} (the same command continues it)", flush=True)
    t0 = time.perf_counter()
    record = run_sweep(
        spec,
        folder,
        backend=args.backend,
        workers=args.workers,
        threads=args.threads,
        device=args.device,
        address=args.address,
        on_progress=SweepLog(),
        poll_s=5.0,
    )
    print(
        f"sweep: {record.counts()['done']} done, {record.counts()['failed']} failed in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    sweep = load_sweep(folder)
    table = sweep.table(analyze=args.analyze)
    args.out.mkdir(parents=True, exist_ok=True)
    page = sweep.report(
        args.out / "fraction_sweep.html",
        table=table,
        title=f"Steps to generalize against the training fraction: a+b mod {args.p}",
    )
    md = args.out / "fraction_sweep.md"
    md.write_text(markdown(table, args))
    print(md.read_text(), flush=True)
    print(f"report: {page}\ntable: {md}", flush=True)
    return 0


def markdown(table, args: argparse.Namespace) -> str:
    """Per fraction: steps to 99% test accuracy over seeds (median [min, max]) and how many generalised."""
    lines = [
        f"# Steps to generalize against the training fraction: a+b mod {args.p}",
        "",
        f"Nanda et al.'s set-up (1-layer model, AdamW lr 1e-3, weight decay 1, full batch); seeds {args.seeds}; "
        f"at most {args.steps:,} steps, stopping {args.stop_after_grok} steps after test accuracy reaches 99%; "
        f"evaluated every {args.eval_every} steps.",
        "",
        "| train fraction | train pairs | seeds generalised | steps to 99% test: median [min, max] | "
        "steps to 99% train: median | phase (Liu et al.) | wall per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for frac, rows in table.groupby("frac", sort=True):
        grok = sorted(int(v) for v in rows["test_99"].dropna())
        train = sorted(int(v) for v in rows["train_99"].dropna())
        done = int((rows["state"] == "done").sum())
        spread = f"{_median(grok):,.0f} [{grok[0]:,}, {grok[-1]:,}]" if grok else f"none within {args.steps:,}"
        phases = ", ".join(f"{k} {v}" for k, v in rows["phase"].value_counts().items())
        wall = rows["wall_s"].dropna()
        lines.append(
            f"| {frac:g} | {round(frac * args.p * args.p):,} | {len(grok)}/{done} | {spread} | "
            f"{_median(train):,.0f} | {phases or '-'} | {wall.mean() / 60:.1f} min |"
        )
    return "\n".join(lines) + "\n"


def _median(values: list[int]) -> float:
    if not values:
        return float("nan")
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


if __name__ == "__main__":
    sys.exit(main())
