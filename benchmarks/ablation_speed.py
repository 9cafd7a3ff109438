"""How long do both circuit ablations over every checkpoint take, vectorized vs one HookedTransformer at a time?

Both run in this one process on the same run folder and compute the same numbers (train/test loss
and accuracy as trained, without the generalizing circuit and without the memorizing one):

(a) grokscope: ``ablate_run(run, fourier=fa)``: checkpoints stacked, the model run on all p^2
    inputs a chunk of checkpoints at a time (``grid_cache``), both ablations applied in closed form
    to the logits; includes loading the checkpoints and the per-frequency importance at the end.
    The Fourier analysis it needs (key frequencies, phases) is timed apart; it is cached in the run.
(b) the hook loop: for each checkpoint, ``Run.model(step)`` builds a ``HookedTransformer`` and it
    runs all p^2 token rows three times: plain, and inside ``ablated(model, CircuitAblation(...))``
    for each circuit (``hooked_metrics``).

    python benchmarks/ablation_speed.py /tmp/canon/mod97-grok1l-s0
    python benchmarks/ablation_speed.py RUN --limit 20 --site neurons   # (b) on 20 checkpoints, scaled up

Target (issue 4): (a) under 60 s for the canonical mod-97 run on this CPU.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from grokscope.analysis.ablation.circuits import CircuitAblation, hooked_metrics
from grokscope.analysis.ablation.over_checkpoints import ablate_run
from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.store.run import load_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, nargs="?", default=Path("checkpoints/mod97-grok1l-s0"))
    ap.add_argument("--site", default="logits", choices=("logits", "neurons"))
    ap.add_argument("--method", default="zero", choices=("zero", "mean", "resample"))
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="time the hook loop on this many evenly spaced checkpoints and scale to all",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load_run(args.run)
    print(
        f"run {run.path}: {run.task.name}, {len(run.steps)} checkpoints, torch threads {torch.get_num_threads()}, "
        f"site {args.site}, method {args.method}"
    )

    t0 = time.perf_counter()
    fa = analyze_fourier(run)
    print(
        f"Fourier analysis ({'cached' if fa.cached else 'computed'}): {time.perf_counter() - t0:.1f} s, "
        f"key frequencies {fa.key_frequencies}"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    res = ablate_run(run, fourier=fa, site=args.site, method=args.method)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"(a) grokscope vectorized, both circuits, {len(res.table)} checkpoints: {t_fast:.1f} s wall "
        f"({c_fast:.1f} s CPU); crossings {res.crossings()}"
    )

    steps = res.steps
    chosen = (
        steps
        if args.limit is None or args.limit >= len(steps)
        else [steps[i] for i in np.linspace(0, len(steps) - 1, args.limit).round().astype(int)]
    )
    data = run.task.dataset()
    keys = tuple(fa.key_frequencies)
    worst = 0.0
    t0 = time.perf_counter()
    for step in chosen:
        model = run.model(step)
        row = res.table.loc[step]
        got = {"": hooked_metrics(model, data)}
        for circuit in ("generalize", "memorize"):
            got[f"{circuit}_"] = hooked_metrics(
                model,
                data,
                CircuitAblation(circuit=circuit, key_freqs=keys, p=fa.p, site=args.site, method=args.method),
            )
        for prefix, metrics in got.items():
            for m in ("train_loss", "test_loss"):
                ref = metrics[m]
                worst = max(worst, abs(row[f"{prefix}{m}"] - ref) / max(abs(ref), 1e-6))
    t_loop = (time.perf_counter() - t0) * len(steps) / len(chosen)
    scaled = "" if len(chosen) == len(steps) else f" (timed on {len(chosen)} checkpoints, scaled to {len(steps)})"
    print(f"(b) hook loop, HookedTransformer + 3 hooked forwards per checkpoint: {t_loop:.1f} s{scaled}")
    print(f"largest relative difference in train/test loss between (a) and (b): {worst:.1e}")
    print(f"speed-up (b)/(a): {t_loop / t_fast:.1f}x   target: (a) < 60 s")


if __name__ == "__main__":
    main()
