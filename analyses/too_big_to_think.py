"""Reproduce "Too Big to Think" (Barron & White 2025): Tables 2-4 and the Controlled
Regularization Tables 5-7, with accuracy-over-training figures.

    python analyses/too_big_to_think.py                       # every cell, the paper's budget
    python analyses/too_big_to_think.py --tasks arith --presets n14 n28 --conditions paper
    python analyses/too_big_to_think.py --scale 0.2           # 6,000 steps, schedule scaled alike
    python analyses/too_big_to_think.py --device cuda         # MLT at its full budget needs a GPU
    python analyses/too_big_to_think.py --tiny                # seconds: a smoke run of the pipeline
    python analyses/too_big_to_think.py --tasks arith --presets n14 n28 --conditions paper --seeds 5

Cells: task (arith: Table 2/5, capitals: 3/6, joint: 4/7) x model (n14, n28, n56, mlt) x
condition (``paper``: Table 1's hyperparameters; ``cr``: Controlled Regularization, weight decay
0.1 and dropout 0). Every run uses the paper's set-up: seed 1337, 30,000 steps, warm-up 2,000,
cosine to min_lr at 25,000, beta2 0.99, clipping 1.0, batch/block 882/9 (arith) and 576/24
(capitals, joint), evaluation every 250 steps with the paper's protocol (``--eval-mode clean`` for
the clean one), and a table value is the row with the best combined score, as the paper reports.

On a CPU, MLT (10.6M parameters) cannot do 30,000 steps of 882 x 9 tokens in reasonable time
(~10 s a step on one core): the script says so and trains it with the reduced budget
``--mlt-cpu-steps`` steps (default 150) at batch ``--mlt-cpu-batch`` (default 64), evaluating
every 50 steps; those cells are marked "reduced" in the table.

Each cell is a sweep over seeds (``--seeds N``: the paper's 1337 and the N-1 after it), run by
grokscope's sweep engine: ``--runs/<cell>/seed<seed>``, ``--workers`` runs side by side (or
``--backend ray``), and the same command started again continues where it stopped (finished
seeds are kept, interrupted ones resume from their last checkpoint, more seeds extend the cell).
One run's held-out count moves by up to 20/40 under float rounding alone, so a cell's table value
is its mean over seeds with the range [min, max] beside the paper's number, and a section says,
cell by cell, whether the paper's number lies within that range. The table goes to
``--out/too_big_to_think.md``, figures beside it.
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from grokscope.config.lm import LMRunConfig, LMTrainConfig, default_train
from grokscope.models.state import count_params, count_params_nanogpt
from grokscope.tasks import CapitalsTask, CharArithTask, JointTask

PRESETS = ("n14", "n28", "n56", "mlt")
TASKS = ("arith", "capitals", "joint")
CONDITIONS = ("paper", "cr")
TABLES = {
    ("arith", "paper"): 2,
    ("capitals", "paper"): 3,
    ("joint", "paper"): 4,
    ("arith", "cr"): 5,
    ("capitals", "cr"): 6,
    ("joint", "cr"): 7,
}
# The paper's numbers (percent; heldout = correct of 40).
PAPER = {
    ("arith", "paper"): {
        p: dict(add=a, sub=a, heldout=h)
        for p, a, h in (("n14", 100, 40), ("n28", 98, 0), ("n56", 98, 0), ("mlt", 98, 0))
    },
    ("capitals", "paper"): {
        "n14": dict(facts=8.2),
        "n28": dict(facts=100),
        "n56": dict(facts=100),
        "mlt": dict(facts=100),
    },
    ("joint", "paper"): {
        "n14": dict(add=31.2, sub=39.4, facts=2.0, combined=28.6, heldout=0),
        "n28": dict(add=95.0, sub=97, facts=87.6, combined=94.3, heldout=0),
        "n56": dict(add=98, sub=98, facts=100, combined=98.4, heldout=0),
        "mlt": dict(add=98, sub=98, facts=100, combined=98.4, heldout=0),
    },
    ("capitals", "cr"): {
        "n14": dict(facts=12.4),
        "n28": dict(facts=100),
        "n56": dict(facts=100),
        "mlt": dict(facts=100),
    },
    ("joint", "cr"): {
        "n14": dict(add=33.4, sub=28.5, facts=6.6, combined=26.1, heldout=0),
        "n28": dict(add=96.3, sub=88.7, facts=90.0, combined=92.0, heldout=0),
        "n56": dict(add=98, sub=98, facts=100, combined=98.4, heldout=0),
        "mlt": dict(add=98, sub=98, facts=100, combined=98.4, heldout=0),
    },
}
PAPER[("arith", "cr")] = PAPER[("arith", "paper")]
COLUMNS = {
    "arith": ("add", "sub", "heldout"),
    "capitals": ("facts",),
    "joint": ("add", "sub", "facts", "combined", "heldout"),
}


def make_task(task: str, eval_mode: str, tiny: bool = False):
    sampling = (
        {} if eval_mode == "paper" else dict(eval_mode="clean", eval_samples=1, eval_temperature=0.0, eval_top_k=None)
    )
    if tiny:
        sampling["eval_samples"] = 1
    if task == "arith":
        return CharArithTask(**sampling)
    cls = CapitalsTask if task == "capitals" else JointTask
    # The paper's block of 24 is shorter than its longest line (41): windows, as nanoGPT trains.
    return cls(block_size=24, allow_short_block=True, **sampling)


def make_config(
    task: str,
    preset: str,
    condition: str,
    *,
    scale: float,
    eval_mode: str,
    reduced: dict | None,
    tiny: bool,
    seed: int = 1337,
) -> LMRunConfig:
    train = LMTrainConfig(
        **default_train(task, preset, steps=round(LMTrainConfig.steps * scale), controlled=condition == "cr")
    )
    if reduced:
        train = replace(
            train,
            steps=reduced["steps"],
            warmup=reduced["steps"] // 10,
            lr_decay_steps=reduced["steps"],
            batch_size=reduced["batch"],
            eval_every=reduced["eval_every"],
            ckpt_every=reduced["steps"],
        )
    if tiny:
        train = replace(
            train, steps=40, warmup=5, lr_decay_steps=40, eval_every=20, eval_iters=2, ckpt_every=20, batch_size=32
        )
    return LMRunConfig(task=make_task(task, eval_mode, tiny), preset=preset, seed=seed, train=train)


def cell_name(task: str, preset: str, condition: str, args: argparse.Namespace, reduced: bool) -> str:
    name = f"{task}-{preset}-{condition}"
    if args.eval_mode != "paper":
        name += f"-{args.eval_mode}"
    if args.scale != 1:
        name += f"-x{args.scale:g}"
    if reduced:
        name += f"-cpu{args.mlt_cpu_steps}b{args.mlt_cpu_batch}"
    return name + ("-tiny" if args.tiny else "")


def find_cell(runs_dir: Path, name: str, stem: str) -> list:
    """The runs of this cell, one per seed: the sweep of this exact name, else the same cell at another
    scale (finished first, then the most steps), else a single run from before seeds; [] if none."""
    from grokscope.store.run import Run, is_run_dir
    from grokscope.sweeps.record import is_sweep_dir, read_record

    def runs_of(path: Path) -> list:
        if is_run_dir(path):
            return [Run(path)] if Run(path).metrics_rows() else []
        if not is_sweep_dir(path):
            return []
        out = [Run(path / r.name) for r in read_record(path).runs if is_run_dir(path / r.name)]
        return [r for r in out if r.metrics_rows()]

    paths = [runs_dir / name, *sorted(p for p in runs_dir.glob(f"{stem}-x*") if "-cpu" not in p.name)]
    if "-cpu" in name:
        paths = [runs_dir / name]
    cands = [rs for rs in map(runs_of, paths) if rs]
    if not cands:
        return []
    # Finished runs first, then the ones at this very scale, then the most seeds, then the furthest.
    return max(
        cands,
        key=lambda rs: (
            all(r.info.get("finished", False) for r in rs),
            rs[0].path.parent.name == name or rs[0].name == name,
            len(rs),
            rs[0].metrics_rows()[-1]["step"],
        ),
    )


def best_row(rows: list[dict]) -> dict:
    """The first evaluated row with the highest score (the paper keeps strictly better ones)."""
    return max(rows, key=lambda r: (r["score"], -r["step"]))


def summarize(run, task: str, reduced: bool) -> dict:
    rows = run.metrics_rows()
    b = best_row(rows)
    out = {
        "run": str(run.path),
        "seed": run.config.seed,
        "best_step": b["step"],
        "steps": rows[-1]["step"],
        "wall_s": rows[-1]["elapsed_s"],
        "reduced": reduced,
        "score": 100 * b["score"],
        "budget": run.config.train.steps,
        "finished": bool(run.info.get("finished", False)),
    }
    if "add_acc" in b:
        out |= {
            "add": 100 * b["add_acc"],
            "sub": 100 * b["sub_acc"],
            "heldout": b["heldout_correct"],
            "heldout_total": b["heldout_total"],
            "add_n": f"{b['add_correct']}/{b['add_total']}",
            "sub_n": f"{b['sub_correct']}/{b['sub_total']}",
        }
    if "facts_acc" in b:
        out |= {"facts": 100 * b["facts_acc"], "facts_n": f"{b['facts_correct']}/{b['facts_total']}"}
    out["combined"] = 100 * b["score"]
    # Ever: the most held-out answers at any evaluation (the paper's figures mark those).
    if "heldout_correct" in rows[0]:
        out["heldout_max"] = max(r["heldout_correct"] for r in rows)
    return out


def fmt(col: str, v) -> str:
    """One value, or a list over seeds as ``mean [min, max]``."""
    if v is None:
        return "-"
    if isinstance(v, list):
        if len(v) == 1:
            return fmt(col, v[0])
        mean = sum(v) / len(v)
        if col == "heldout":
            return f"{mean:.1f}/40 [{min(v)}, {max(v)}]"
        return f"{mean:.1f}% [{min(v):.1f}, {max(v):.1f}]"
    if col == "heldout":
        return f"{v}/40" if isinstance(v, int) else str(v)
    return f"{v:.1f}%"


def over_seeds(summaries: list[dict]) -> dict:
    """A cell's summaries (one per seed) as one: each number a list over seeds, the rest from the first."""
    first = dict(summaries[0])
    for key in ("add", "sub", "facts", "combined", "heldout", "heldout_max", "best_step", "wall_s", "steps"):
        if key in first:
            first[key] = [s[key] for s in summaries]
    first["finished"] = all(s["finished"] for s in summaries)
    first["seeds"] = [s["seed"] for s in summaries]
    first["runs"] = [s["run"] for s in summaries]
    return first


def within_spread(ours: list, paper) -> str:
    """Whether the paper's number lies in [min, max] of ours (a tolerance of 0.05 for rounding in the paper)."""
    lo, hi = min(ours), max(ours)
    inside = lo - 0.05 <= paper <= hi + 0.05
    return "yes" if inside else ("no: above" if paper > hi else "no: below")


def write_table(results: dict, params: dict, args: argparse.Namespace, path: Path) -> None:
    """The tables beside the paper's numbers; with several seeds, each value is ``mean [min, max]``
    and a last section says whether the paper's number lies within our range."""
    lines = [
        "# Too Big to Think: reproduction",
        "",
        f"Eval protocol: {args.eval_mode}; budget scale {args.scale:g} (1 = the paper's 30,000 steps); "
        "each value is from the evaluation with the best combined score, as in the paper; with several seeds, "
        "the mean over seeds and [min, max]. "
        "Parameters: nanoGPT's count (the paper's) / the HookedTransformer's tensors.",
        "",
    ]
    verdicts = []
    for (task, cond), table in sorted(TABLES.items(), key=lambda kv: kv[1]):
        cells = {p: results.get((task, p, cond)) for p in PRESETS}
        if not any(cells.values()):
            continue
        cols = COLUMNS[task]
        lines += [
            f"## Table {table}: {task}, {'Controlled Regularization' if cond == 'cr' else 'main'}",
            "",
            "| model | params (paper way / TL) | "
            + " | ".join(f"{c} ours | {c} paper" for c in cols)
            + " | seeds | best step of steps run (budget) | max held-out | wall | runs |",
            "|---|---|" + "---|---|" * len(cols) + "---|---|---|---|---|",
        ]
        for p in PRESETS:
            r = cells[p]
            if r is None:
                continue
            paper = PAPER[(task, cond)][p]
            vals = " | ".join(f"{fmt(c, r.get(c))} | {fmt(c, paper.get(c))}" for c in cols)
            pc = params[(task, p)]
            note = " (reduced)" if r["reduced"] else ""
            if not r["finished"]:
                note += " (unfinished)"
            best = ", ".join(map(str, r["best_step"]))
            steps = max(r["steps"])
            wall = sum(r["wall_s"]) / len(r["wall_s"]) / 60
            lines.append(
                f"| {p}{note} | {pc[0]:,} / {pc[1]:,} | {vals} | {len(r['seeds'])} | {best} of {steps} "
                f"({r['budget']:,}) | {fmt('heldout', r.get('heldout_max'))} | {wall:.1f} min a run | "
                f"{_common_folder(r['runs'])} |"
            )
            if len(r["seeds"]) > 1:
                verdicts += [
                    f"| Table {table} | {p} | {c} | {fmt(c, r[c])} | {fmt(c, paper[c])} | "
                    f"{within_spread(r[c], paper[c])} |"
                    for c in cols
                    if c in paper and c in r
                ]
        lines.append("")
    if verdicts:
        lines += [
            "## Is the paper's number within our spread over seeds?",
            "",
            "| table | model | column | ours: mean [min, max] | paper | within [min, max] |",
            "|---|---|---|---|---|---|",
            *verdicts,
            "",
        ]
    path.write_text("\n".join(lines) + "\n")


def _common_folder(paths: list[str]) -> str:
    if len(paths) == 1:
        return Path(paths[0]).name
    return f"{Path(paths[0]).parent.name}/ ({', '.join(Path(p).name for p in paths)})"


def write_figures(runs: dict, out: Path) -> list[Path]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    written = []
    for (task, cond), table in TABLES.items():
        have = [(p, seed_runs) for p in PRESETS for seed_runs in [runs.get((task, p, cond))] if seed_runs]
        if not have:
            continue
        metrics = [
            ("add_acc", "addition"),
            ("sub_acc", "subtraction"),
            ("heldout_frac", "held-out (5,7)"),
            ("facts_acc", "facts"),
            ("score", "combined"),
        ]
        metrics = [
            m
            for m in metrics
            if (m[0] == "heldout_frac" and task != "capitals") or m[0] in have[0][1][0].metrics_rows()[0]
        ]
        fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[t for _, t in metrics])
        for i, (p, seed_runs) in enumerate(have):
            for k, run in enumerate(seed_runs):  # every seed, the first drawn solid, the others faint
                rows = run.metrics_rows()
                steps = [r["step"] for r in rows]
                for j, (key, _) in enumerate(metrics):
                    ys = [
                        r["heldout_correct"] / max(r["heldout_total"], 1) if key == "heldout_frac" else r[key]
                        for r in rows
                    ]
                    fig.add_trace(
                        go.Scatter(
                            x=steps,
                            y=ys,
                            name=p if k == 0 else f"{p} seed {run.config.seed}",
                            legendgroup=p,
                            showlegend=j == 0 and k == 0,
                            opacity=1 if k == 0 else 0.35,
                            hovertemplate=f"{p} seed {run.config.seed}<br>step %{{x}}: %{{y:.3f}}<extra></extra>",
                            line=dict(
                                color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"][i % 4], width=2 if k == 0 else 1
                            ),
                        ),
                        row=1,
                        col=j + 1,
                    )
        fig.update_yaxes(range=[-0.02, 1.02])
        fig.update_layout(
            title=f"Table {table}: {task} ({'Controlled Regularization' if cond == 'cr' else 'main'})"
            " accuracy over training",
            height=380,
            width=320 * len(metrics),
        )
        path = out / f"fig_table{table}_{task}_{cond}.html"
        fig.write_html(path, include_plotlyjs=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    ap.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's 30,000-step schedule")
    ap.add_argument("--eval-mode", default="paper", choices=("paper", "clean"))
    ap.add_argument("--seeds", type=int, default=1, help="seeds per cell: 1337 (the paper's) and the ones after it")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--mlt-cpu-steps", type=int, default=150)
    ap.add_argument("--mlt-cpu-batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per run (1 is fastest for these models)")
    ap.add_argument("--workers", type=int, default=None, help="runs side by side (default: cores / threads)")
    ap.add_argument("--backend", default="local", choices=("local", "ray"))
    ap.add_argument("--address", default=None, help="--backend ray: the cluster's address (default: a local instance)")
    ap.add_argument("--runs", type=Path, default=Path("runs/too_big_to_think"))
    ap.add_argument("--out", type=Path, default=Path("reports/too_big_to_think"))
    ap.add_argument("--train-only", action="store_true", help="train the cells, skip the table and figures")
    ap.add_argument("--tiny", action="store_true", help="40 steps per cell at batch 32: a smoke run")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: tabulate the runs already in --runs, finished or not (per cell the runs of "
        "this --scale if there are some, else of another scale; the runs are named in the table)",
    )
    args = ap.parse_args(argv)
    if not 0 < args.scale <= 1:
        print(f"error: --scale must be in (0, 1], got {args.scale}", file=sys.stderr)
        return 2
    if not 1 <= args.seeds <= 1000:
        print(f"error: --seeds must be in 1..1000, got {args.seeds}", file=sys.stderr)
        return 2
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda asked for, but torch sees no CUDA GPU: use --device cpu", file=sys.stderr)
        return 2
    try:
        return _main(args)
    except ValueError as e:  # the sweep engine's refusals: one line, exit code 2
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = tuple(range(1337, 1337 + args.seeds))
    results, runs, params = {}, {}, {}
    for task in args.tasks:
        for preset in args.presets:
            t = make_task(task, args.eval_mode)
            params[(task, preset)] = (count_params_nanogpt(preset, t), count_params(preset, t))
            for cond in args.conditions:
                reduced = None
                if preset == "mlt" and not args.device.startswith("cuda") and not args.tiny:
                    reduced = dict(steps=args.mlt_cpu_steps, batch=args.mlt_cpu_batch, eval_every=50)
                    print(
                        f"[{task} mlt {cond}] no GPU: MLT needs ~10 s a step on this CPU, so it runs the reduced "
                        f"budget of {args.mlt_cpu_steps} steps at batch {args.mlt_cpu_batch} (--device cuda "
                        "for the paper's 30,000)",
                        flush=True,
                    )
                name = cell_name(task, preset, cond, args, reduced is not None)
                if args.report_only:
                    cell_runs = find_cell(args.runs, name, f"{task}-{preset}-{cond}")
                else:
                    cell_runs = train_cell(args, name, task, preset, cond, reduced, seeds)
                if not cell_runs:
                    continue
                runs[(task, preset, cond)] = cell_runs
                results[(task, preset, cond)] = over_seeds([summarize(r, task, reduced is not None) for r in cell_runs])
                if not args.report_only:
                    shown = {k: v for k, v in results[(task, preset, cond)].items() if k not in ("run", "runs")}
                    print(f"[{name}] " + json.dumps(shown), flush=True)
    if args.train_only:
        return 0
    seed_runs, section_51 = runs.get(("arith", "n14", "paper")), None
    run = seed_runs[0] if seed_runs else None
    if run is not None and run.best_step not in run.steps:  # a kept run.json + metrics.jsonl, no checkpoints
        section_51 = (
            f"not computed: {run.path} holds no checkpoint of its best step (train the cell, or point "
            "--runs at a run folder that has its checkpoints)"
        )
    elif run is not None:
        ex = run.task.extrapolation(
            run.model(run.best_step),
            hi=19,
            samples=1 if args.tiny else 10,
            temperature=0.01,
            top_k=10,
            generator=torch.Generator().manual_seed(0),
        )
        results["extrapolation_n14"] = {
            k: ex[k] for k in ("add_acc", "sub_acc", "add_correct", "add_total", "sub_correct", "sub_total")
        }
        section_51 = (
            f"addition {100 * ex['add_acc']:.2f}% ({ex['add_correct']}/{ex['add_total']}), paper 0%; "
            f"subtraction {100 * ex['sub_acc']:.2f}% ({ex['sub_correct']}/{ex['sub_total']}), paper 4.75%"
        )
    if section_51:
        print(f"[5.1] n14 (seed {run.config.seed}) on operands 0..19 (two-digit ones only): {section_51}", flush=True)
    table = args.out / "too_big_to_think.md"
    write_table({k: v for k, v in results.items() if isinstance(k, tuple)}, params, args, table)
    if section_51:
        with open(table, "a") as f:
            f.write(
                f"\n## Section 5.1: n14 (best arith checkpoint, seed {run.config.seed}) on operands 0..19, "
                f"two-digit ones only\n\n{section_51}\n"
            )
    figs = write_figures(runs, args.out)
    (args.out / "results.json").write_text(
        json.dumps({"|".join(k) if isinstance(k, tuple) else k: v for k, v in results.items()}, indent=1)
    )
    print(f"table: {table}\nfigures: {', '.join(map(str, figs))}", flush=True)
    return 0


def train_cell(
    args: argparse.Namespace, name: str, task: str, preset: str, cond: str, reduced: dict | None, seeds: tuple[int, ...]
) -> list:
    """Train a cell's seeds as one sweep (``--runs/<cell>``) and return the runs that finished."""
    from grokscope.store.run import Run
    from grokscope.sweeps.engine import run_sweep
    from grokscope.sweeps.progress import SweepLog
    from grokscope.sweeps.spec import SweepSpec

    spec = SweepSpec((("task", (task,)), ("preset", (preset,)), ("seed", seeds)), name_by=("seed",))

    def config_of(plan):
        return make_config(
            task,
            preset,
            cond,
            scale=args.scale,
            eval_mode=args.eval_mode,
            reduced=reduced,
            tiny=args.tiny,
            seed=plan.options["seed"],
        )

    steps = config_of(spec.runs()[0]).train.steps
    print(
        f"[{name}] {len(seeds)} seed(s) x {steps} steps in {args.runs / name} (finished seeds are kept, "
        "interrupted ones resume)",
        flush=True,
    )
    t0 = time.perf_counter()
    record = run_sweep(
        spec,
        args.runs / name,
        backend=args.backend,
        workers=args.workers,
        threads=args.threads,
        device=args.device,
        address=args.address,
        make_config=config_of,
        on_progress=SweepLog(f"[{name}] "),
        poll_s=5.0,
    )
    done = [Run(args.runs / name / r.name) for r in record.runs if r.state == "done"]
    print(f"[{name}] {len(done)}/{len(seeds)} seed(s) done in {time.perf_counter() - t0:.0f} s", flush=True)
    return done


if __name__ == "__main__":
    sys.exit(main())
