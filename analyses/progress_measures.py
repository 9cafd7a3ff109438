"""Reproduce the progress-measures figures of Nanda et al. 2023 end to end: train, analyse, report.

    python analyses/progress_measures.py                  # both settings below (CPU: ~10 min each)
    python analyses/progress_measures.py --setting mod97  # the project's canonical run only
    python analyses/progress_measures.py --tiny           # a+b mod 23 in seconds (CI runs this)

Settings:

* ``nanda113``: the paper's mainline, a+b mod 113 with 30% of pairs for training, AdamW lr 1e-3,
  weight decay 1, full batch, the 1-layer ReLU model. It trains until 5,000 steps after test
  accuracy reaches 99% (the paper trains 40k epochs; its phases end at 1.4k / 9.4k / 14k), so that
  cleanup can finish.
* ``mod97``: the canonical grokscope run (``grokscope train --task mod97``), which stops 2,000 steps
  after grokking.

Each run goes to ``--runs`` (an existing identical run there is reused, not retrained), its report
to ``--out/<run>.html``, and a comparison with the published phase boundaries is printed.
"""

import argparse
import json
import sys
from pathlib import Path

from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.analysis.fourier.report import write_report
from grokscope.config.modular import RunConfig, TrainConfig
from grokscope.tasks import ModularTask
from grokscope.training.train import train

SETTINGS = {
    "nanda113": RunConfig(
        task=ModularTask(p=113, frac=0.3, seed=0),
        preset="grok1l",
        seed=0,
        train=TrainConfig(steps=40_000, stop_after_grok=5_000),
    ),
    "mod97": RunConfig(task=ModularTask(p=97, frac=0.3, seed=0), preset="grok1l", seed=0, train=TrainConfig()),
    # The test suite's short run: memorizes, groks by ~700 steps, in seconds on a CPU.
    "tiny": RunConfig(
        task=ModularTask(p=23, frac=0.8, seed=0),
        preset="grok1l",
        seed=0,
        train=TrainConfig(steps=800, eval_every=20, ckpt_every=20, stop_after_grok=None),
    ),
}

# Nanda et al. 2023 (p = 113, seed of the mainline run): dashed phase lines of the analysis notebook.
PUBLISHED = {
    "phases": {"memorization": (0, 1400), "circuit formation": (1400, 9400), "cleanup": (9400, 14000)},
    "key_frequencies": [14, 35, 41, 42, 52],
    "test_acc_near_100_at": 10_000,
}


def run_setting(name: str, runs: Path, out: Path, device: str) -> dict:
    config = SETTINGS[name]
    print(f"[{name}] training {config.task.name} into {runs} (an identical finished run is reused)", flush=True)
    run = train(config, runs, device=device)
    fa = analyze_fourier(run)
    report = write_report(fa, out / f"{run.name}.html")
    summary = fa.summary() | {"setting": name, "report": str(report)}
    print(
        f"[{name}] {fa.run}: key frequencies {fa.key_frequencies}; phases "
        + ", ".join(f"{ph.name} {ph.start}-{ph.end}" for ph in fa.phases)
    )
    print(f"[{name}] {fa.handover}")
    print(f"[{name}] report: {report}", flush=True)
    return summary


def compare(summary: dict) -> str:
    """Our phase boundaries and curve shapes next to the paper's (p = 113, 40k epochs)."""
    ours = {ph["name"]: (ph["start"], ph["end"]) for ph in summary["phases"]}
    lines = [f"{'phase':<18} {'paper (p=113)':>16} {'ours (' + summary['task'] + ')':>18}"]
    for name, (a, b) in PUBLISHED["phases"].items():
        oa, ob = ours[name]
        lines.append(f"{name:<18} {a:>7} - {b:<7}  {oa:>7} - {ob:<7}")
    lines.append(
        f"key frequencies: paper {PUBLISHED['key_frequencies']} (5), ours {summary['key_frequencies']} "
        f"({len(summary['key_frequencies'])}): different seed and init, so different frequencies"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", choices=["nanda113", "mod97", "both"], default="both")
    ap.add_argument("--tiny", action="store_true", help="run the tiny a+b mod 23 setting instead (seconds)")
    ap.add_argument("--runs", type=Path, default=Path("checkpoints"), help="folder for the runs")
    ap.add_argument("--out", type=Path, default=Path("reports"), help="folder for the HTML reports")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    names = ["tiny"] if args.tiny else (["nanda113", "mod97"] if args.setting == "both" else [args.setting])
    summaries = [run_setting(n, args.runs, args.out, args.device) for n in names]
    for s in summaries:
        print(f"\n{s['run']} against the published curves:\n{compare(s)}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "progress_measures.json").write_text(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
