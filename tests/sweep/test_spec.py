"""Sweep specs: the value syntax (lists, ranges, lin/log ranges), TOML files, the grid, run names, errors."""

import itertools
import math

import pytest

from grokscope.sweeps.record import RunEntry, extended, new_record, spec_difference
from grokscope.sweeps.spec import (
    BY_NAME,
    SweepSpec,
    parse_values,
    read_toml_spec,
    run_name,
    spec_from_args,
    spec_from_options,
)
from tests.conftest import tl_independent

pytestmark = tl_independent


def values(flag, text):
    return parse_values(BY_NAME[flag], text)


def test_lists_and_integer_ranges():
    assert values("frac", "0.2,0.3,0.5") == [0.2, 0.3, 0.5]
    assert values("seed", "0..4") == [0, 1, 2, 3, 4]
    assert values("seed", "-2..1") == [-2, -1, 0, 1]
    assert values("seed", "7") == [7]
    assert values("seed", "0..1,5,9..10") == [0, 1, 5, 9, 10]
    assert values("task", "mod97,mod113") == ["mod97", "mod113"]
    assert values("frac", " 0.2 , 0.4 ") == [0.2, 0.4]


def test_lin_and_log_ranges_include_both_ends():
    lin = values("frac", "0.25:0.8:lin12")
    assert len(lin) == 12 and lin[0] == 0.25 and lin[-1] == 0.8
    assert all(math.isclose(b - a, 0.05, rel_tol=1e-4) for a, b in itertools.pairwise(lin))
    log = values("weight_decay", "0.1:3:log6")
    assert log[0] == 0.1 and log[-1] == 3.0 and len(log) == 6
    ratios = [b / a for a, b in itertools.pairwise(log)]  # geometric: one ratio, 30 ** (1/5)
    assert all(math.isclose(r, 30**0.2, rel_tol=1e-5) for r in ratios)
    assert all(float(f"{v:.6g}") == v for v in log)  # rounded to 6 significant digits: clean names
    assert values("steps", "1000:10000:log3") == [1000, 3162, 10000]
    assert values("lr", "0.001:0.001:log1") == [0.001]
    assert values("weight_decay", "0.1,1:2:lin3") == [0.1, 1.0, 1.5, 2.0]


@pytest.mark.parametrize(
    "flag, text, needle",
    [
        ("frac", "", "empty value"),
        ("frac", "0.2,,0.3", "an empty item"),
        ("frac", "0.3,", "an empty item"),
        ("seed", "4..1", "an empty range"),
        ("seed", "0..", "not an integer range"),
        ("seed", "a..b", "not an integer range"),
        ("frac", "0.1..0.5", "not a float range"),
        ("seed", "1.5", "not an integer"),
        ("frac", "abc", "not a number"),
        ("frac", "nan", "not a finite number"),
        ("lr", "1e-3:1e-2:log0", "number of points"),
        ("lr", "1e-3:1e-2:geo3", "a spaced range is"),
        ("lr", "1e-3:1e-2", "a spaced range is"),
        ("weight_decay", "0:1:log3", "a log range needs both ends > 0"),
        ("lr", "0.1:0.2:lin1", "one point cannot span"),
        ("frac", "0.3,0.3", "comes twice"),
        ("steps", "10:12:lin5", "comes twice"),  # rounds to 10, 10, 11, 12, 12
        ("seed", "0..999999999", "narrow the range"),
    ],
)
def test_malformed_values_are_refused_naming_the_flag(flag, text, needle):
    with pytest.raises(ValueError, match=needle) as e:
        values(flag, text)
    assert str(e.value).startswith(f"--{BY_NAME[flag].flag}")


def test_the_grid_is_the_product_first_option_outermost_and_runs_are_named_by_what_varies():
    spec = spec_from_args(["mod97", "--frac", "0.2,0.5", "--seed=0..2", "--steps", "3000", "--wd", "1"])
    assert spec.size == 6 and spec.swept == ["frac", "seed"]
    assert spec.fixed == {"task": "mod97", "steps": 3000, "weight_decay": 1.0}
    runs = spec.runs()
    assert [r.name for r in runs] == [
        "frac0.2-seed0",
        "frac0.2-seed1",
        "frac0.2-seed2",
        "frac0.5-seed0",
        "frac0.5-seed1",
        "frac0.5-seed2",
    ]
    assert runs[4].values == {"frac": 0.5, "seed": 1}
    assert runs[4].options == {"task": "mod97", "frac": 0.5, "seed": 1, "steps": 3000, "weight_decay": 1.0}
    assert spec_from_args(["mod97"]).runs()[0].name == "run"
    assert run_name({"task": "mod113", "weight_decay": 0.1}) == "mod113-wd0.1"
    assert run_name({"preset": "a/b"}) == "preseta_b"  # never a path
    assert spec_from_args(["mod97", "--weight-decay", "0.1,1"]).swept == ["weight_decay"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["mod97", "--frca", "0.3"], "unknown option --frca"),
        (["mod97", "--name", "x"], "--name is not a sweep option"),
        (["mod97", "--resume", "x"], "--resume is not a sweep option"),
        (["mod97", "--ops", "SUM", "--ops", "SUM"], "given twice"),
        (["mod97", "--frac"], "--frac needs a value"),
        (["mod97", "--frac", "--seed", "1"], "--frac needs a value"),
        (["--frac", "0.3", "mod97"], "unexpected argument 'mod97'"),
        (["mod97", "--seed", "0..40", "--frac", "0.1:0.9:lin30"], "the grid has 1,230 runs (41 x 30), more than"),
        (["mod97", "--facts-file", "a,b"], None),
        ([], "a sweep needs a task"),
    ],
)
def test_bad_command_lines(args, needle):
    if needle is None:  # a path is one value, commas and all: not a sweep over two files
        assert spec_from_args(args).fixed["facts_file"] == "a,b"
        return
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        spec_from_args(args)


def test_fixed_only_options_cannot_be_swept_from_python():
    with pytest.raises(ValueError, match="--init-from cannot be swept"):
        spec_from_options({"task": "arith", "init_from": ["a", "b"]})
    with pytest.raises(ValueError, match="not a number"):
        spec_from_options({"task": "mod97", "frac": ["0.3", 0.5]})
    with pytest.raises(ValueError, match="an empty list"):
        spec_from_options({"task": "mod97", "seed": []})
    spec = spec_from_options({"task": "mod97", "seed": range(3), "frac": "0.3,0.5", "lr": 1})
    assert spec.swept == ["seed", "frac"] and spec.fixed["lr"] == 1.0


def test_toml_spec(tmp_path):
    f = tmp_path / "sweep.toml"
    f.write_text('task = "mod97"\nfrac = [0.2, 0.3]\nseed = "0..1"\nweight-decay = "0.1:1:log2"\nsteps = 3000\n')
    spec = spec_from_args([], base=read_toml_spec(f))
    assert spec.size == 8 and spec.fixed == {"task": "mod97", "steps": 3000}
    assert dict(spec.axes)["weight_decay"] == (0.1, 1.0)
    assert spec_from_args(["--lr", "1e-3,3e-3"], base=read_toml_spec(f)).size == 16
    with pytest.raises(ValueError, match="in the --spec file and on the command line"):
        spec_from_args(["--frac", "0.5"], base=read_toml_spec(f))
    for text, needle in [
        ("frac = [0.2,\n", "not valid TOML"),
        ("bogus = 1\n", "unknown option --bogus"),
        ("[frac]\na = 1\n", "is a table"),
    ]:
        f.write_text(text)
        with pytest.raises(ValueError, match=needle):
            read_toml_spec(f)
    with pytest.raises(ValueError, match="no such file"):
        read_toml_spec(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="is a folder"):
        read_toml_spec(tmp_path)


def test_spec_round_trip_difference_and_extension():
    spec = spec_from_args(["mod97", "--frac", "0.2,0.5", "--seed", "0..1"])
    assert SweepSpec.from_dict(spec.to_dict()) == spec
    other = spec_from_args(["mod97", "--frac", "0.2,0.6", "--seed", "0..1"])
    assert spec_difference(spec, other) == "frac: it has 0.2, 0.5, you asked for 0.2, 0.6"
    assert spec_difference(spec, spec) is None
    record = new_record(spec, "now")
    record = record.with_entry(RunEntry("frac0.2-seed0", {"frac": 0.2, "seed": 0}, "done", None, 1, 2.0))
    more = spec_from_args(["mod97", "--frac", "0.2,0.5", "--seed", "0..3"])  # more seeds: the same runs and 4 more
    grown = extended(record, more)
    assert grown is not None and len(grown.runs) == 8 and grown.entry("frac0.2-seed0").state == "done"
    assert grown.entry("frac0.2-seed3").state == "pending"
    assert extended(record, other) is None  # a value dropped
    assert (
        extended(
            new_record(spec_from_args(["mod97", "--frac", "0.2"]), "now"),
            spec_from_args(["mod97", "--frac", "0.2,0.5"]),
        )
        is None
    )  # run "run" would be renamed


def test_values_with_syntax_of_their_own_and_numpy_values():
    import numpy as np

    spec = spec_from_options({"task": "wordops", "ops": [["SUM", "DIVIDE"], "SUM"], "operands": [0, 99]})
    assert dict(spec.axes)["ops"] == ("SUM,DIVIDE", "SUM") and spec.fixed["operands"] == "0..99"
    assert [r.name for r in spec.runs()] == ["opsSUM_DIVIDE", "opsSUM"]
    assert spec_from_options({"task": "wordops", "operands": ["0..9", [0, 99]]}).swept == ["operands"]
    assert spec_from_args(["wordops", "--ops", "SUM,DIVIDE"]).fixed["ops"] == "SUM,DIVIDE"  # one value
    spec = spec_from_options({"task": "mod97", "seed": np.arange(2), "frac": np.linspace(0.2, 0.4, 2)})
    assert dict(spec.axes) == {"task": ("mod97",), "seed": (0, 1), "frac": (0.2, 0.4)}
    assert type(dict(spec.axes)["seed"][0]) is int


@pytest.mark.parametrize(
    "args, needle",
    [
        (["mod13,..", "--steps", "5"], None),
        (["mod13", "--frac", "-1e308:1e308:lin2"], "leaves the floating-point numbers"),
        (["mod13", "--preset", "grok1l," + "x" * 300], "more than a folder name may have"),
    ],
)
def test_specs_whose_runs_could_not_be_written_are_refused(args, needle):
    if needle is None:  # a task named '..' makes a run folder named '_..', never the parent folder
        assert [r.name for r in spec_from_args(args).runs()] == ["mod13", "_.."]
        return
    with pytest.raises(ValueError, match=needle):
        spec_from_args(args).runs()


def test_fixed_options_in_another_order_are_the_same_sweep():
    a = spec_from_args(["mod97", "--frac", "0.3,0.5", "--steps", "200", "--eval-every", "10"])
    b = spec_from_args(["mod97", "--frac", "0.3,0.5", "--eval-every", "10", "--steps", "200"])
    assert spec_difference(a, b) is None
    c = spec_from_args(["mod97", "--seed", "0..1", "--frac", "0.3,0.5"])
    d = spec_from_args(["mod97", "--frac", "0.3,0.5", "--seed", "0..1"])
    assert spec_difference(c, d) == "the swept options' order: it has seed, frac, you asked for frac, seed"
