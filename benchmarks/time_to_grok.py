"""Time to grok: the plain TransformerLens loop and grokscope's trainer, each until test accuracy is 99%.

Both start from the same initial weights on the same split, with the same optimizer, schedule and
float64 cross-entropy (``train_speed.PlainLoop``), and both flush denormals (without it the plain
loop's late steps run 1.5-3x slower and the ratio would flatter grokscope). The two compute the
same maths in a different order, so their trajectories part within the first steps and the step
at which each groks differs by float rounding alone: the script reports steps and seconds of each.
grokscope's run is bit-deterministic; the plain loop is not on CPU (its parameters differed after
300 steps in each of four runs here, and two runs to grok took 11,500 and 11,650 steps).
The plain loop runs for tens of minutes on a 2-core CPU: a benchmark to run on purpose.

    python benchmarks/time_to_grok.py [--seed 0] [--max-steps 30000] [--skip-plain]
"""

import argparse
import tempfile
import time

from train_speed import PlainLoop, machine_line

from grokscope.config import RunConfig, TrainConfig
from grokscope.runtime import flush_denormals, speed_settings
from grokscope.tasks import ModularTask
from grokscope.training.train import train


def plain_until_grok(task: ModularTask, seed: int, max_steps: int, every: int) -> tuple[int | None, float]:
    """``(grok step, seconds)`` of the plain loop, test accuracy checked every ``every`` steps."""
    loop = PlainLoop(task, seed)
    t0 = time.perf_counter()
    with flush_denormals():
        while loop.steps_done <= max_steps:
            if loop.steps_done % every == 0 and loop.test_acc() >= TrainConfig().grok_threshold:
                return loop.steps_done, time.perf_counter() - t0
            loop.step()
    return None, time.perf_counter() - t0


def grokscope_until_grok(task: ModularTask, seed: int, max_steps: int) -> tuple[int | None, float]:
    """``(grok step, seconds)`` of ``grokscope.train`` (evaluations and checkpoints included)."""
    config = RunConfig(task=task, seed=seed, train=TrainConfig(steps=max_steps, stop_after_grok=0))
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        with speed_settings():  # as the command line runs it
            run = train(config, out, device="cpu")
        return run.grok_step, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, default=30_000)
    ap.add_argument("--skip-plain", action="store_true", help="time grokscope only")
    args = ap.parse_args()
    task = ModularTask(p=97, frac=0.3, seed=args.seed)
    print(machine_line())
    ours_step, ours_s = grokscope_until_grok(task, args.seed, args.max_steps)
    print(f"grokscope train()          : grokked at step {ours_step} after {ours_s:.1f} s")
    if args.skip_plain:
        return
    plain_step, plain_s = plain_until_grok(task, args.seed, args.max_steps, TrainConfig().eval_every)
    print(f"plain TransformerLens loop : grokked at step {plain_step} after {plain_s:.1f} s")
    print(f"time-to-grok ratio         : {plain_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
