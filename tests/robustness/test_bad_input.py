"""Bad input, table-driven: each case is one line of ``error: ...`` naming what is wrong, exit code 2,
no traceback, and nothing written (no run folder made, an existing run untouched).

The classes are the issue's: input that used to leave a half-made run, input that used to end in
a traceback, and answers that used to mislead.
"""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app
from tests.robustness.test_fault_matrix import NAME, TRAIN, tree

LONG = "n" * 300
MOD = ["train", "--task", "mod13", "--steps", "20", "--quiet"]

# (class, id, arguments with {out}, {run} and {char} for an existing modular / character run, needle)
CASES = [
    ("half-made", "cuda-without-gpu", [*MOD, "--device", "cuda", "--out", "{out}"], "no CUDA GPU"),
    ("half-made", "lr-nan", [*MOD, "--lr", "nan", "--out", "{out}"], "lr"),
    ("half-made", "lr-inf", [*MOD, "--lr", "inf", "--out", "{out}"], "lr"),
    ("half-made", "wd-nan", [*MOD, "--wd", "nan", "--out", "{out}"], "weight_decay"),
    ("half-made", "seed-too-large", [*MOD, "--seed", str(2**64), "--out", "{out}"], "seed"),
    ("half-made", "steps-zero", [*MOD[:-3], "--steps", "0", "--out", "{out}"], "steps"),
    ("half-made", "eval-every-negative", [*MOD, "--eval-every", "-5", "--out", "{out}"], "eval_every"),
    ("half-made", "batch-size-zero", [*MOD, "--batch-size", "0", "--out", "{out}"], "batch_size"),
    ("half-made", "frac-above-one", [*MOD, "--frac", "1.5", "--out", "{out}"], "frac"),
    ("tracebacks", "name-over-255-bytes", [*MOD, "--name", LONG, "--out", "{out}"], "255"),
    ("tracebacks", "out-component-over-255-bytes", [*MOD, "--out", "{out}/" + LONG + "/runs"], "255"),
    (
        "tracebacks",
        "23-digit-operands",
        ["train", "--task", "wordops", "--operands", "0.." + "9" * 23, "--out", "{out}"],
        "operands",
    ),
    ("tracebacks", "resume-char-run-as-mod97", ["train", "--resume", "{char}", "--task", "mod97"], "task"),
    ("tracebacks", "resume-mod-run-as-arith", ["train", "--resume", "{run}", "--task", "arith"], "task"),
    ("tracebacks", "resume-missing-folder", ["train", "--resume", "{out}/nothing"], "not a grokscope run"),
    ("tracebacks", "analyze-path-over-255-bytes", ["analyze", "fourier", "{out}/" + LONG], "too long"),
    ("tracebacks", "ablate-path-over-255-bytes", ["ablate", "{out}/" + LONG, "--circuit", "memorize"], "too long"),
    ("tracebacks", "runs-path-over-255-bytes", ["runs", "{out}/" + LONG], "too long"),
    ("misleading", "fourier-on-char-run", ["analyze", "fourier", "{char}"], "character-level run"),
    ("misleading", "ablate-char-run", ["ablate", "{char}", "--circuit", "memorize"], "character-level run"),
    ("misleading", "unknown-command", ["trian"], "did you mean 'train'"),
    ("misleading", "unknown-option", ["train", "--stepz", "5"], "no such option"),
    ("misleading", "missing-argument", ["analyze", "fourier"], "missing argument"),
    ("misleading", "analyze-empty-folder", ["analyze", "fourier", "{out}"], "no runs in"),
    ("misleading", "runs-not-a-folder", ["runs", "{out}/nothing"], "not a folder"),
]


# Session scope: built once per xdist worker, not again each time its tests follow another module's.
@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """A finished modular run and a finished character-level run, copied for each case."""
    root = tmp_path_factory.mktemp("bad-input")
    runner = CliRunner()
    r = runner.invoke(app, [*TRAIN, "--out", str(root / "mod")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "train",
            "--task",
            "arith",
            "--steps",
            "10",
            "--eval-every",
            "5",
            "--quiet",
            "--device",
            "cpu",
            "--out",
            str(root / "char"),
        ],
    )
    assert r.exit_code == 0, r.output
    return root


@pytest.mark.parametrize("kind,case,args,needle", CASES, ids=[f"{k}-{c}" for k, c, _, _ in CASES])
def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, kind, case, args, needle):
    shutil.copytree(runs, tmp_path / "w", symlinks=True)
    out = tmp_path / "w" / "empty"
    out.mkdir()
    run = tmp_path / "w" / "mod" / NAME
    char = next((tmp_path / "w" / "char").iterdir())
    argv = [a.format(out=out, run=run, char=char) for a in args]
    before = tree(tmp_path / "w")

    result = CliRunner().invoke(app, argv)

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert needle.lower() in lines[0].lower(), lines[0]
    assert tree(tmp_path / "w") == before, "bad input changed or made files"
    assert not any(Path(out).iterdir()), "bad input made a folder"
