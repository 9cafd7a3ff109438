"""Usage errors (unknown option or command, a value of the wrong type, a missing argument) are one line.

``error: <what is wrong>: run grokscope <command> --help`` on stderr, nothing on stdout, exit code 2,
whether the CLI runs as a program (what a user runs) or through typer's ``CliRunner``; ``--help``
and the help of a bare group are unchanged.
"""

import subprocess

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app
from tests.conftest import one_line_error

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

runner = CliRunner()


def run_cli(cli_cmd, *args):
    return subprocess.run([*cli_cmd, *map(str, args)], capture_output=True, text=True, timeout=60)


def assert_usage_error(r, command: str, *needles: str) -> None:
    """A subprocess result: exit code 2, one ``error: ...: run grokscope COMMAND --help`` line, no stdout."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert line.startswith("error: ") and line.endswith(f": run {command} --help"), line
    assert all(n in line for n in needles), (needles, line)
    assert r.stdout == ""


CASES = [
    # unknown option
    (["train", "--bogus"], "grokscope train", ["no such option: --bogus"]),
    (["--bogus"], "grokscope", ["no such option: --bogus"]),
    (["analyze", "fourier", "x", "--frobnicate"], "grokscope analyze fourier", ["no such option: --frobnicate"]),
    # an option value of the wrong type (the value is named)
    (["train", "--steps", "abc"], "grokscope train", ["'abc'", "'--steps'", "integer"]),
    (["train", "--lr", "fast"], "grokscope train", ["'fast'", "'--lr'"]),
    (["ablate", "x", "--circuit", "memorize", "--step", "1.5"], "grokscope ablate", ["'1.5'", "'--step'"]),
    (["analyze", "behavior", "x", "--per-group", "many"], "grokscope analyze behavior", ["'many'", "'--per-group'"]),
    # an option without its value, a flag given one
    (["train", "--steps"], "grokscope train", ["'--steps' requires an argument"]),
    (["analyze", "fourier", "x", "--p"], "grokscope analyze fourier", ["'--p' requires an argument"]),
    (["train", "--quiet=3"], "grokscope train", ["'--quiet' does not take a value"]),
    # missing required argument / option
    (["ablate"], "grokscope ablate", ["missing option", "--circuit"]),  # RUN may be left out: checkpoints/
    (["ablate", "somewhere"], "grokscope ablate", ["missing option", "--circuit"]),
    (["analyze", "fourier"], "grokscope analyze fourier", ["missing argument"]),
    (["analyze", "behavior", "--json"], "grokscope analyze behavior", ["missing argument"]),
    # extra arguments
    (["runs", "a", "b"], "grokscope runs", ["unexpected extra argument", "(b)"]),
    (["train", "mod97"], "grokscope train", ["unexpected extra argument", "(mod97)"]),
    # unknown command, unknown subcommand of analyze
    (["nope"], "grokscope", ["no such command 'nope'"]),
    (["trian"], "grokscope", ["no such command 'trian'", "did you mean 'train'"]),
    (["analyze", "nope"], "grokscope analyze", ["no such command 'nope'"]),
    (["analyze", "fourer", "x"], "grokscope analyze", ["no such command 'fourer'", "did you mean 'fourier'"]),
]


@pytest.mark.parametrize("args,command,needles", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_usage_error_is_one_line(cli_cmd, tmp_path, args, command, needles):
    r = subprocess.run([*cli_cmd, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert_usage_error(r, command, *needles)
    assert not any(tmp_path.iterdir()), "a usage error writes nothing"


@pytest.mark.parametrize("args,command,needles", CASES[::3], ids=[" ".join(c[0]) for c in CASES[::3]])
def test_usage_error_through_cli_runner(args, command, needles):
    """Tests that call ``app`` directly see the same line and exit code."""
    r = runner.invoke(app, args)
    one_line_error(r, needles[0])
    assert r.stderr.strip().endswith(f": run {command} --help") and r.stdout == ""


def test_the_grokscope_script_too(tmp_path):
    """``grokscope`` (pyproject's [project.scripts] entry, grokscope.cli.main:main) behaves the same."""
    import shutil
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "grokscope"
    if not script.exists():
        script = shutil.which("grokscope")
        if script is None:
            pytest.skip("no grokscope script installed next to this interpreter")
    r = subprocess.run(
        [str(script), "train", "--steps", "abc"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert_usage_error(r, "grokscope train", "'abc'", "'--steps'")


def test_an_option_given_twice_takes_the_last(cli_cmd, tmp_path):
    """click does not refuse a repeated option: the last value counts (the error names it)."""
    r = run_cli(cli_cmd, "train", "--task", "mod13", "--task", "nope", "--out", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: unknown task 'nope'"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args,shows",
    [
        (["--help"], "Train small transformers until they grok"),
        (["train", "--help"], "--eval-every"),
        (["analyze", "--help"], "fourier"),
        (["analyze", "fourier", "--help"], "--no-cache"),
        (["analyze", "behavior", "--help"], "--per-group"),
        (["ablate", "--help"], "--circuit"),
        (["runs", "--help"], "folder of runs"),
        (["models", "--help"], "--task"),
    ],
)
def test_help_is_unchanged(cli_cmd, args, shows):
    r = run_cli(cli_cmd, *args)
    assert r.returncode == 0 and shows in r.stdout and "Usage:" in r.stdout and r.stderr == "", r
    assert not r.stdout.startswith("error:")


@pytest.mark.parametrize("args", [["--steps", "abc", "--help"], ["--help", "--steps", "abc"]])
def test_help_wins_over_bad_values(cli_cmd, args):
    """``--help`` is handled before the other options: help, exit code 0, whatever else is wrong."""
    r = run_cli(cli_cmd, "train", *args)
    assert r.returncode == 0 and "--eval-every" in r.stdout and r.stderr == "", r


def test_a_bare_group_still_shows_its_help(cli_cmd):
    """``grokscope`` and ``grokscope analyze`` alone list their commands, as before (click's exit code 2)."""
    for args, shows in [([], "train"), (["analyze"], "fourier")]:
        r = run_cli(cli_cmd, *args)
        assert r.returncode == 2 and shows in r.stdout + r.stderr and "Usage:" in r.stdout + r.stderr
        assert "error:" not in r.stderr


def test_successful_commands_are_unchanged(cli_cmd):
    r = run_cli(cli_cmd, "models", "--task", "mod13")
    assert r.returncode == 0 and r.stderr == "" and "grok1l" in r.stdout
    r = runner.invoke(app, ["models", "--task", "mod13"])
    assert r.exit_code == 0 and "grok1l" in r.stdout


def test_library_errors_keep_their_own_line(cli_cmd, tmp_path):
    """A value of the right type that the library refuses is its one line, without the --help hint."""
    r = run_cli(cli_cmd, "train", "--task", "mod9x", "--out", tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: unknown task 'mod9x'") and "--help" not in r.stderr
