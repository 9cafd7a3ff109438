"""Sweep speed: a small grid through ``grokscope sweep`` against the same runs one after another with
``grokscope train`` (the shell loop a researcher writes today), timed side by side in one run.

Both sides are the real commands, started as a user starts them, into fresh folders; each
side's time includes its start-up (imports, worker processes). The sweep uses its defaults on
this machine (``--workers`` = cores / ``--threads``, one thread a run); the loop runs each
``grokscope train`` with torch's default threads (every core). Afterwards the two sides' runs
are checked to have trained the same steps, and the largest difference in accuracy between them
is printed (the thread counts differ, so the floating-point sums, and so the bits, may too).

    python benchmarks/sweep_speed.py [--p 97] [--fracs 0.3,0.5,0.7] [--seeds 0..1] [--steps 3000]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROKSCOPE = [sys.executable, "-m", "grokscope.cli.main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=97)
    ap.add_argument("--fracs", default="0.3,0.5,0.7")
    ap.add_argument("--seeds", default="0..1")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=None, help="the sweep's --workers (default: its own)")
    args = ap.parse_args(argv)

    from grokscope.sweeps.backends import default_workers
    from grokscope.sweeps.spec import spec_from_options

    train_flags = ["--steps", str(args.steps), "--stop-after-grok", "-1", "--quiet"]
    spec = spec_from_options({"task": f"mod{args.p}", "frac": args.fracs, "seed": args.seeds})
    runs = spec.runs()
    workers = args.workers or default_workers(1, "cpu")
    tmp = Path(tempfile.mkdtemp(prefix="grokscope-sweep-bench-"))
    try:
        print(
            f"{spec.describe()}, {args.steps:,} steps each; the sweep with {workers} workers of 1 thread, "
            f"the loop with torch's default threads",
            flush=True,
        )
        t0 = time.perf_counter()
        for plan in runs:
            subprocess.run(
                [
                    *GROKSCOPE,
                    "train",
                    "--task",
                    f"mod{args.p}",
                    "--frac",
                    str(plan.values["frac"]),
                    "--seed",
                    str(plan.values["seed"]),
                    *train_flags,
                    "--out",
                    str(tmp / "loop"),
                    "--name",
                    plan.name,
                ],
                check=True,
                stderr=subprocess.DEVNULL,
            )
        loop_s = time.perf_counter() - t0
        print(f"grokscope train, one after another: {loop_s:7.1f} s", flush=True)

        t0 = time.perf_counter()
        sweep_cmd = [
            *GROKSCOPE,
            "sweep",
            f"mod{args.p}",
            "--frac",
            args.fracs,
            "--seed",
            args.seeds,
            *train_flags,
            "--out",
            str(tmp / "sweep"),
        ] + (["--workers", str(args.workers)] if args.workers else [])
        subprocess.run(sweep_cmd, check=True, stderr=subprocess.DEVNULL)
        sweep_s = time.perf_counter() - t0
        print(f"grokscope sweep:                    {sweep_s:7.1f} s", flush=True)
        print(f"ratio (loop / sweep): {loop_s / sweep_s:.2f}x", flush=True)
        check_same(tmp / "loop", tmp / "sweep", [p.name for p in runs])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def check_same(loop: Path, sweep: Path, names: list[str]) -> None:
    """Both sides trained the same runs to the same steps; prints how far their accuracies ever differ."""
    from grokscope.store.run import load_run

    worst = 0.0
    for name in names:
        a, b = load_run(loop / name).metrics_rows(), load_run(sweep / name).metrics_rows()
        assert [r["step"] for r in a] == [r["step"] for r in b], f"{name}: the two sides trained different steps"
        worst = max(worst, *(abs(x[k] - y[k]) for x, y in zip(a, b) for k in ("train_acc", "test_acc")))
    print(
        f"checked: the {len(names)} runs of both sides trained the same steps; their train and test accuracies "
        f"differ by at most {worst:.2g} at any evaluation",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
