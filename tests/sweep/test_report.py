"""A sweep read back as a table, a status and a report: every number checked against the run
folders' own metrics, damaged and crafted folders turned into rows with a reason, and the figures
drawn from hand-made tables."""

import json
import math
import os
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.store.lock import RunLock
from grokscope.store.run import Run
from grokscope.sweeps.engine import run_sweep
from grokscope.sweeps.figures import (
    PHASE_COLORS,
    plot_phase_diagram,
    plot_steps_to_grok,
    sweep_figures,
    write_sweep_report,
)
from grokscope.sweeps.handle import Sweep, load_sweep
from grokscope.sweeps.phases import PhaseRule
from grokscope.sweeps.record import SWEEP_LOCK, read_record, write_record
from grokscope.sweeps.report import RESULT_COLUMNS, metrics_results, sweep_status, sweep_table, value_column
from grokscope.sweeps.spec import spec_from_args
from tests.conftest import tl_independent

pytestmark = tl_independent

# Four mod-13 runs of at most 200 steps (about a second each): at lr 0.01, 90% of the pairs for
# training generalise by step ~100-150 (and stop 20 steps later), 50% only memorise.
ARGS = [
    "mod13",
    "--frac",
    "0.5,0.9",
    "--wd",
    "1,3",
    "--lr",
    "0.01",
    "--steps",
    "200",
    "--eval-every",
    "10",
    "--ckpt-every",
    "50",
    "--stop-after-grok",
    "20",
]


# Session scope: built once per xdist worker, not again each time its tests follow another module's.
@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweeps") / "sweep"
    run_sweep(spec_from_args(ARGS), out, workers=2)
    return out


@pytest.fixture
def copy(sweep_dir, tmp_path) -> Path:
    """A copy of the sweep to damage."""
    return Path(shutil.copytree(sweep_dir, tmp_path / "sweep", symlinks=True))


def by_hand(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def first(rows: list[dict], col: str, thr: float) -> int | None:
    return next((r["step"] for r in rows if r.get(col) is not None and r[col] >= thr), None)


def na(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


# -- the table ----------------------------------------------------------------------------------


def test_table_matches_the_run_folders(sweep_dir):
    record = read_record(sweep_dir)
    table = sweep_table(sweep_dir)
    assert list(table["run"]) == [p.name for p in record.spec.runs()]  # grid order
    assert list(table.columns[:5]) == ["run", "state", "reason", "frac", "weight_decay"]
    assert set(RESULT_COLUMNS) <= set(table.columns)
    for col in ("train_90", "test_90", "train_99", "test_99", "steps"):
        assert str(table[col].dtype) == "Int64", col
    for row, entry in zip(table.to_dict("records"), record.runs):
        rows = by_hand(sweep_dir / entry.name)
        assert row["state"] == "done" and na(row["reason"])
        assert (row["frac"], row["weight_decay"]) == (entry.values["frac"], entry.values["weight_decay"])
        for col, thr in (("90", 0.9), ("99", 0.99)):
            for split in ("train", "test"):
                want = first(rows, f"{split}_acc", thr)
                got = row[f"{split}_{col}"]
                assert (na(got) and want is None) or got == want, (entry.name, split, col)
        assert row["steps"] == rows[-1]["step"]
        assert row["final_train_loss"] == rows[-1]["train_loss"]
        assert row["final_test_loss"] == rows[-1]["test_loss"]
        assert row["weight_norm"] == pytest.approx(math.sqrt(rows[-1]["sq_weights"]), rel=1e-12)
        assert row["wall_s"] == entry.wall_s
        assert na(row["best_score"])
        # Liu et al.'s rule, worked out here from the first steps at 90%
        train90, test90 = first(rows, "train_acc", 0.9), first(rows, "test_acc", 0.9)
        want = (
            ("confusion" if train90 is None else "memorization")
            if test90 is None
            else "grokking"
            if train90 is not None and test90 - train90 > 1000
            else "comprehension"
        )
        assert row["phase"] == want
    # the grid was chosen so that both outcomes are there: the checks above compared real numbers
    assert table["test_99"].notna().any() and table["test_99"].isna().any()


def test_rule_changes_the_phase(sweep_dir):
    strict = sweep_table(sweep_dir, rule=PhaseRule(accuracy=0.9, window=0))
    loose = sweep_table(sweep_dir)
    for s, l, t90, tr90 in zip(strict["phase"], loose["phase"], loose["test_90"], loose["train_90"]):
        if not na(t90) and t90 > tr90:
            assert (s, l) == ("grokking", "comprehension")
        else:
            assert s == l


def test_progress_is_called_per_run(sweep_dir):
    calls = []
    sweep_table(sweep_dir, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_analysis_columns_match_the_fourier_analysis(sweep_dir):
    table = sweep_table(sweep_dir, analyze=True)
    for row in table.to_dict("records"):
        fa = analyze_fourier(Run(sweep_dir / row["run"]))
        assert fa.cached  # the table computed it and left it in the run's cache
        assert row["key_frequencies"] == fa.key_frequencies
        ends = {ph.name: (ph.end if ph.reached else None) for ph in fa.phases}
        for name, col in (
            ("memorization", "memorization_end"),
            ("circuit formation", "circuit_formation_end"),
            ("cleanup", "cleanup_end"),
        ):
            assert (na(row[col]) and ends[name] is None) or row[col] == ends[name]
    assert str(table["memorization_end"].dtype) == "Int64"


def test_damaged_run_folders_give_rows_with_a_reason(copy, tmp_path):
    names = [e.name for e in read_record(copy).runs]
    (copy / names[0] / "run.json").write_bytes(b"\x00garbage{{{")
    (copy / names[1] / "metrics.jsonl").write_bytes(b"not json\n\xff\xfe\n")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(copy / names[3], elsewhere)
    shutil.rmtree(elsewhere / "analysis", ignore_errors=True)  # an earlier test's cache
    shutil.rmtree(copy / names[3])
    os.symlink(elsewhere, copy / names[3])  # a link out of the sweep folder: never followed
    table = sweep_table(copy, analyze=False)
    rows = table.to_dict("records")
    assert [r["state"] for r in rows] == ["done"] * 4
    assert "run.json" in rows[0]["reason"] and na(rows[0]["steps"]) and na(rows[0]["weight_norm"])
    assert rows[1]["reason"] == "no metrics yet" and na(rows[1]["test_99"])
    assert na(rows[2]["reason"]) and not na(rows[2]["steps"])  # the intact run is read as ever
    assert "symbolic link" in rows[3]["reason"] and na(rows[3]["steps"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to analyse in the damaged rows: no warning either
        analysed = sweep_table(copy, analyze=True)
    assert [na(k) for k in analysed["key_frequencies"]] == [True, False, False, True]
    assert not (elsewhere / "analysis").exists()


def test_crafted_numbers_do_not_break_the_table(copy):
    name = read_record(copy).runs[2].name
    with open(copy / name / "metrics.jsonl", "a") as f:
        f.write(f'{{"step": {10**30}, "train_acc": 1, "test_acc": 1, "sq_weights": {10**400}}}\n')
    row = sweep_table(copy).to_dict("records")[2]
    assert "unreadable" in row["reason"] and na(row["steps"])
    first_row = sweep_table(copy).to_dict("records")[0]
    assert not na(first_row["steps"])  # the other runs are read as ever


def test_a_run_that_cannot_be_analysed_warns_and_gets_missing_values(copy):
    name = read_record(copy).runs[0].name
    for ckpt in (copy / name / "ckpt").iterdir():
        ckpt.write_bytes(b"torn")
    with pytest.warns(RuntimeWarning, match=f"{name}: not analysed"):
        table = sweep_table(copy, analyze=True)
    assert na(table["key_frequencies"][0]) and na(table["memorization_end"][0])
    assert isinstance(table["key_frequencies"][1], list)
    assert not na(table["train_90"][0])  # its metrics are still in the table


def test_pending_run_without_a_folder(copy):
    record = read_record(copy)
    entry = record.runs[2]
    write_record(copy, record.with_entry(replace(entry, state="pending", wall_s=None)))
    shutil.rmtree(copy / entry.name)
    row = sweep_table(copy).to_dict("records")[2]
    assert (row["state"], row["reason"]) == ("pending", "not started yet")
    assert all(na(row[c]) for c in RESULT_COLUMNS)


def test_lm_rows():
    rows = [
        {"step": 0, "train_loss": 3.0, "val_loss": 3.1, "score": 0.1, "lr": 0.0},
        {"step": 100, "train_loss": 1.0, "val_loss": 1.5, "score": 0.7},
        {"step": 200, "train_loss": 0.5, "val_loss": 1.7, "score": 0.6},
    ]
    out = metrics_results(rows, lm=True)
    assert (out["steps"], out["final_train_loss"], out["final_test_loss"], out["best_score"]) == (200, 0.5, 1.7, 0.7)
    assert out["phase"] is None and out["train_99"] is None and out["weight_norm"] is None


def test_metrics_edge_cases():
    assert all(v is None for v in metrics_results([], lm=False).values())
    rows = [
        {"step": 20, "train_acc": 1.0, "test_acc": 0.2, "train_loss": float("nan"), "sq_weights": 4.0},
        {"step": 10, "train_acc": 0.95, "test_acc": None, "train_loss": 1.0, "sq_weights": 9.0},
    ]
    out = metrics_results(rows, lm=False)  # rows out of order: read by step
    assert (out["train_90"], out["train_99"], out["steps"], out["weight_norm"]) == (10, 20, 20, 2.0)
    assert math.isnan(out["final_train_loss"]) and out["phase"] == "memorization"
    assert metrics_results(rows, lm=False, finished=False)["phase"] is None


def test_value_column_avoids_result_names():
    assert value_column("frac") == "frac" and value_column("steps") == "swept_steps"


# -- status -------------------------------------------------------------------------------------


def test_status_of_a_finished_sweep(sweep_dir):
    st = sweep_status(sweep_dir)
    assert st.counts == {"pending": 0, "running": 0, "interrupted": 0, "done": 4, "failed": 0}
    assert (st.total, st.alive, st.pid, st.running, st.failed, st.eta_s) == (4, False, None, (), (), None)
    assert st.finished and st.describe() == "4/4 done; finished"


def test_status_of_an_interrupted_sweep(copy):
    record = read_record(copy)
    entry = record.runs[1]
    write_record(copy, record.with_entry(replace(entry, state="running")))
    st = sweep_status(copy)
    assert (st.alive, st.counts["interrupted"], st.counts["running"], st.counts["done"]) == (False, 1, 0, 3)
    (run,) = st.running
    assert (run.name, run.step, run.steps) == (entry.name, by_hand(copy / entry.name)[-1]["step"], 200)
    assert st.eta_s is None and "not running" in st.describe() and "1 interrupted" in st.describe()
    assert sweep_table(copy)["state"][1] == "interrupted"
    # While a process holds the sweep's lock, the same record is a live sweep with an estimate.
    with RunLock(copy, file=SWEEP_LOCK, doing="swept"):
        live = sweep_status(copy)
        assert (live.alive, live.pid, live.counts["running"], live.counts["interrupted"]) == (
            True,
            str(os.getpid()),
            1,
            0,
        )
        assert live.eta_s is not None and live.eta_s >= 0 and f"pid {os.getpid()}" in live.describe()
        assert sweep_table(copy)["state"][1] == "running"


# -- the handle and the report ------------------------------------------------------------------


def test_handle(sweep_dir):
    sweep = load_sweep(sweep_dir)
    assert isinstance(sweep, Sweep) and sweep.path == sweep_dir
    assert sweep.spec == spec_from_args(ARGS) and sweep.record.spec == sweep.spec
    assert [r.name for r in sweep.runs] == [p.name for p in sweep.spec.runs()]
    text = repr(sweep)
    assert "\n" not in text and "4 runs" in text and "4 done" in text
    run = sweep.run(sweep.runs[0].name)
    assert isinstance(run, Run) and run.path == sweep_dir / sweep.runs[0].name
    with pytest.raises(KeyError, match="no run"):
        sweep.run("frac0.7-wd1")
    assert sweep.status().finished
    with pytest.raises(ValueError, match="not a sweep"):
        Sweep(sweep_dir / sweep.runs[0].name)


def test_report_is_standalone_with_a_figure_per_variable_and_a_phase_diagram(copy):
    sweep = Sweep(copy)
    path = sweep.report()
    assert path == Path(os.path.abspath(copy)) / "report" / "sweep.html"
    text = path.read_text()
    assert text.count("Plotly.newPlot") == 3  # frac, weight decay, and the phase diagram
    assert "Steps to grok vs training fraction" in text and "Steps to grok vs weight decay" in text
    assert "Phase diagram" in text
    assert '<script src="http' not in text and "<script src='http" not in text
    assert len(text) > 1_000_000  # plotly.js itself is inlined
    assert all(e.name in text for e in sweep.runs)
    assert "accuracy 0.9; grokking when test reaches it more than 1000 steps after train" in text
    assert not [p for p in (copy / "report").iterdir() if p.name != "sweep.html"]  # no temporary left


def test_report_refuses_a_linked_report_folder(copy, tmp_path):
    target = tmp_path / "victim"
    target.mkdir()
    os.symlink(target, copy / "report")
    with pytest.raises(ValueError, match="symbolic link"):
        Sweep(copy).report()
    with pytest.raises(ValueError, match="symbolic link"):
        Sweep(copy).report(copy / "report" / "other.html")
    assert list(target.iterdir()) == []
    with pytest.raises(ValueError, match="sweep's own file"):
        Sweep(copy).report(copy / "sweep.json")
    out = Sweep(copy).report(tmp_path / "elsewhere" / "s.html")  # a path outside is the user's choice
    assert out.is_file()


# -- figures from hand-made tables --------------------------------------------------------------


def hand_table(spec, results: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for plan in spec.runs():
        r = {"run": plan.name, "state": "done", "reason": None, **{value_column(k): v for k, v in plan.values.items()}}
        r |= dict.fromkeys(RESULT_COLUMNS) | {"steps": 5000} | results.get(plan.name, {})
        rows.append(r)
    table = pd.DataFrame(rows)
    for col in ("train_90", "test_90", "train_99", "test_99", "steps"):
        table[col] = pd.array(table[col].tolist(), dtype="Int64")
    return table


def test_never_grokked_and_failed_runs_are_drawn_not_dropped():
    spec = spec_from_args(["mod97", "--frac", "0.3,0.5", "--seed", "0..2"])
    results = {
        "frac0.3-seed0": {"test_99": 4000, "train_99": 300, "phase": "grokking"},
        "frac0.3-seed1": {"phase": "memorization", "train_99": 200},
        "frac0.3-seed2": {"state": "failed", "reason": "test loss became nan at step 70"},
        "frac0.5-seed0": {"test_99": 900, "phase": "comprehension"},
        "frac0.5-seed1": {"test_99": 1100, "phase": "comprehension"},
        "frac0.5-seed2": {"state": "running"},
    }
    table = hand_table(spec, results)
    figs = sweep_figures(table, spec)
    assert len(figs) == 1  # seeds are replication: one variable, no phase diagram
    fig = figs[0]
    assert fig.layout.yaxis.type == "log" and "steps" in fig.layout.yaxis.title.text
    assert "training fraction" in fig.layout.xaxis.title.text
    names = {t.name: t for t in fig.data}
    never = names["never reached 99% (drawn at the top)"]
    failed = names["failed"]
    assert len(never.y) == 1 and len(failed.y) == 1 and never.y[0] == failed.y[0]
    assert never.y[0] > 4000  # above every run that grokked
    assert len(names["each run"].y) == 3
    median = names["median"]
    assert median.y == (never.y[0], 1000)  # frac 0.3: 1 grokked, 1 never: the median is "never", on its line
    assert "not finished" in fig.layout.title.text and "1 failed" in fig.layout.title.text
    assert "test loss became nan" in failed.hovertext[0]
    # the label of the "never" line sits on it: an annotation's y on a log axis is in log10 units
    (label,) = [a for a in fig.layout.annotations if "never" in a.text]
    assert label.y == pytest.approx(math.log10(never.y[0]))


def test_phase_diagram_majority_over_seeds():
    spec = spec_from_args(["mod97", "--frac", "0.3,0.5", "--wd", "0.1:10:log3", "--seed", "0..2"])
    phases = {}
    for plan in spec.runs():
        v = plan.values
        if v["frac"] == 0.5:
            phase = "comprehension" if v["seed"] else "grokking"  # 2 to 1
        elif v["weight_decay"] == 1:
            phase = ("confusion", "memorization", None)[v["seed"]]  # a tie among the finished
        else:
            phase = "memorization"
        phases[plan.name] = {"phase": phase, "test_99": 1000 if phase in ("comprehension", "grokking") else None}
    table = hand_table(spec, phases)
    figs = sweep_figures(table, spec)
    assert len(figs) == 3  # frac, weight decay, and the phase diagram
    fig = plot_phase_diagram(table, spec)
    heat = fig.data[0]
    assert list(heat.x) == ["0.3", "0.5"] and list(heat.y) == ["0.1", "1", "10"]
    z = [list(r) for r in heat.z]
    assert z[0] == [2, 0] and z[2] == [2, 0]  # memorization; comprehension by 2 to 1
    assert z[1] == [2, 0]  # the tie goes to memorization (before confusion)
    assert "(tie)" in heat.text[1][0] and "2/3" in heat.text[0][1]
    assert "grokking 1" in heat.customdata[0][1] and "comprehension 2" in heat.customdata[0][1]
    assert {t.name for t in fig.data[1:]} == set(PHASE_COLORS)
    wd = plot_steps_to_grok(table, spec, "weight_decay")
    assert wd.layout.xaxis.type == "log"


def test_key_frequency_histogram_and_a_report_from_a_table(tmp_path):
    spec = spec_from_args(["mod97", "--seed", "0..2"])
    table = hand_table(spec, {"seed0": {"test_99": 3000}, "seed1": {"test_99": 3500}, "seed2": {}})
    table["key_frequencies"] = [[4, 14, 35], [4, 35], None]
    figs = sweep_figures(table, spec)
    assert len(figs) == 2  # steps to grok against the seed, and the key frequencies
    (label,) = [a for a in figs[0].layout.annotations if "median" in a.text]
    assert label.text == "median over 3 seeds: 3,500 steps" and label.y == pytest.approx(math.log10(3500))
    bars = figs[1].data[0]
    assert dict(zip(bars.x, bars.y)) == {4: 2, 14: 1, 35: 2}
    path = write_sweep_report(table, spec, tmp_path / "r" / "s.html", title="three seeds <b>")
    text = path.read_text()
    assert text.count("Plotly.newPlot") == 2 and "three seeds &lt;b&gt;" in text
