"""How much faster is grokscope's vectorized Fourier analysis than the plain per-checkpoint loop?

Both run in this one process on the same run folder and compute the same measures:

(a) grokscope: ``analyze_fourier(run, use_cache=False)``: checkpoints stacked into tensors, the
    model run on all p^2 inputs for a chunk of checkpoints at once (``grid_cache``), everything
    reduced on the fly; includes loading the checkpoints, phases and writing the cache.
(b) the plain loop (``tests/analysis/reference.py``): for each checkpoint, ``Run.model(step)``
    builds a ``HookedTransformer``, ``run_with_cache`` runs all p^2 token rows, and the Fourier
    projections and measures are computed in numpy from the definitions.

    python benchmarks/analysis_speed.py checkpoints/mod97-grok1l-s0
    python benchmarks/analysis_speed.py RUN --limit 20    # (b) on 20 evenly spaced checkpoints, scaled up

Targets (issue 3): (a) under 60 s for the canonical mod-97 run on the 2-core CPU, and (b)/(a) >= 10.
Both paths are warmed up once first. Wall and CPU (process) time are printed: on a shared machine
the wall clock depends on what else runs (two processes on two cores make OpenMP thread pools
oversubscribe, and matmuls slow down up to ~10x), so run it when the machine is otherwise idle.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.analysis.reference, the plain loop

from grokscope.analysis.fourier.pipeline import analyze_fourier  # noqa: E402
from grokscope.analysis.fourier.progress_measures import progress_measures  # noqa: E402
from grokscope.runtime import speed_settings  # noqa: E402
from grokscope.store.run import load_run  # noqa: E402
from tests.analysis import reference  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, nargs="?", default=Path("checkpoints/mod97-grok1l-s0"))
    ap.add_argument(
        "--limit",
        type=int,
        default=None,
        help="time the plain loop on this many evenly spaced checkpoints and scale to all",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load_run(args.run)
    if run.task.op not in ("add", "sub") or getattr(run.config, "model", None) is not None:
        # The plain loop computes the measures on the residues with a grokscope-trained model: a mul/div
        # run (analysed in the discrete-log basis) or an imported one has nothing to compare it with.
        sys.exit(f"error: {run.name}: the benchmark compares add/sub runs trained by grokscope only")
    steps = run.steps
    print(f"run {run.path}: {run.task.name}, {len(steps)} checkpoints, torch threads {torch.get_num_threads()}")

    # Warm both paths up once (thread pools, first-call allocations, lazy imports) so that neither
    # pays one-off costs inside its timing.
    data = run.task.dataset()
    labels, train_idx, test_idx = data.labels.numpy(), data.train_idx.numpy(), data.test_idx.numpy()
    last = run.stack(steps=steps[-2:])
    progress_measures(last.steps, last.params, run.task.p, data.labels, data.train_idx, data.test_idx)
    reference.checkpoint_measures(run.model(steps[-1]), run.task.p, labels, train_idx, test_idx, [1])

    t0, c0 = time.perf_counter(), time.process_time()
    with speed_settings():  # as the command line runs it
        fa = analyze_fourier(run, use_cache=False)
    t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"(a) grokscope vectorized: {t_fast:.1f} s wall, {c_fast:.1f} s CPU  (key frequencies {fa.key_frequencies}, "
        f"phases {[(ph.name, ph.start, ph.end) for ph in fa.phases]})"
    )

    chosen = (
        steps
        if args.limit is None or args.limit >= len(steps)
        else [steps[i] for i in np.linspace(0, len(steps) - 1, args.limit).round().astype(int)]
    )
    t0, c0 = time.perf_counter(), time.process_time()
    worst = 0.0
    for step in chosen:
        model = run.model(step)
        ref = reference.checkpoint_measures(model, run.task.p, labels, train_idx, test_idx, fa.key_frequencies)
        row = fa.measures.loc[step]
        for col in ("train_loss", "test_loss", "restricted_loss", "excluded_loss", "gini_embed", "sq_weights"):
            worst = max(worst, abs(row[col] - ref[col]) / max(abs(ref[col]), 1e-6))
    scale = len(steps) / len(chosen)
    t_loop, c_loop = (time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale
    scaled = "" if len(chosen) == len(steps) else f" (timed on {len(chosen)} checkpoints, scaled to {len(steps)})"
    print(
        f"(b) plain loop, HookedTransformer + run_with_cache per checkpoint: {t_loop:.1f} s wall, "
        f"{c_loop:.1f} s CPU{scaled}"
    )
    print(f"largest relative difference between (a) and (b) over the measures: {worst:.1e}")
    print(
        f"speed-up (b)/(a): {t_loop / t_fast:.1f}x wall, {c_loop / c_fast:.1f}x CPU time   "
        "target: (a) < 60 s, speed-up >= 10x"
    )


if __name__ == "__main__":
    main()
