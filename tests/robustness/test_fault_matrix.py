"""Every command against damaged run folders, table-driven.

Each case copies a small finished run (with its cached analysis and report), damages one file or
folder of it one way, runs one command in-process and checks, from the outside:

- the outcome the table expects: exit 0 (the command can go on: a damaged cache is recomputed,
  a damaged newest checkpoint skipped or resumed past) or exit 2 with one ``error: ...`` line;
- no traceback, whatever happens;
- not one byte changed outside the run folder (links in the damaged run point at a decoy folder
  that is hashed before and after);
- nothing lost inside the run: every whole checkpoint file is still there, byte for byte; a
  command that does not train changes nothing outside ``analysis/``; a trainer keeps every
  metrics line before the step it resumed from.

The case ids read ``<target>-<damage>-<command>``. The test command runs the security class (links
out of the run, names that climb out of it) against every command and each other damage against
one command; ``pytest -m slow tests/robustness/test_fault_matrix.py`` runs the rest.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

# a+b mod 23 on 80% of the pairs groks by step ~600: the ablations have circuits to remove.
P, STEPS, CKPT_EVERY = 23, 800, 100
NAME = f"mod{P}-grok1l-f0.8-s0"
TRAIN = [
    "train",
    "--task",
    f"mod{P}",
    "--frac",
    "0.8",
    "--steps",
    str(STEPS),
    "--ckpt-every",
    str(CKPT_EVERY),
    "--eval-every",
    "20",
    "--stop-after-grok",
    "-1",
    "--quiet",
    "--device",
    "cpu",
]
LAST_CKPT, LAST_STATE = f"step_{STEPS:07d}.safetensors", f"state_{STEPS:07d}.safetensors"

# What each target is, relative to the run folder.
TARGETS = {
    "run.json": ("run.json",),
    "manifest.json": ("manifest.json",),
    "metrics.jsonl": ("metrics.jsonl",),
    "last-checkpoint": ("ckpt", LAST_CKPT),
    "newest-resume-state": ("resume", LAST_STATE),
    "fourier-cache": ("analysis", "fourier.json"),
    "report-key": ("analysis", "report.key"),
    "ckpt-folder": ("ckpt",),
    "analysis-folder": ("analysis",),
}
JSON_TARGETS = {"run.json", "manifest.json", "fourier-cache"}
FOLDERS = {"ckpt-folder", "analysis-folder"}

COMMANDS = {
    "train-again": lambda run: [*TRAIN, "--out", str(run.parent)],  # the same command: continues the run
    "resume": lambda run: ["train", "--resume", str(run), "--steps", str(STEPS + 20), "--quiet", "--device", "cpu"],
    "analyze": lambda run: ["analyze", "fourier", str(run), "--quiet"],
    "ablate": lambda run: ["ablate", str(run), "--circuit", "memorize", "--json"],
    "runs": lambda run: ["runs", str(run.parent)],
}
TRAINERS = {"train-again", "resume"}

OK, ERR = "ok", "error"
# Expected outcome by target, for every damage of it, per command (the damage-specific exceptions
# are in EXCEPTIONS). A trainer can go on past a damaged newest checkpoint or resume state (it
# falls back to the one before, saying so); the analyses skip a damaged checkpoint (saying so) and
# recompute a damaged cache; nobody can go on without run.json or a manifest it can trust.
EXPECT = {
    "run.json": dict.fromkeys(["train-again", "resume", "analyze", "ablate"], ERR) | {"runs": OK},
    "manifest.json": dict.fromkeys(["train-again", "resume", "analyze", "ablate"], ERR) | {"runs": OK},
    "metrics.jsonl": dict.fromkeys(COMMANDS, OK),
    "last-checkpoint": dict.fromkeys(COMMANDS, OK),
    "newest-resume-state": dict.fromkeys(COMMANDS, OK),
    "fourier-cache": dict.fromkeys(COMMANDS, OK),
    "report-key": dict.fromkeys(COMMANDS, OK),
    "ckpt-folder": dict.fromkeys(["train-again", "resume", "analyze", "ablate"], ERR) | {"runs": OK},
    "analysis-folder": {"train-again": OK, "resume": OK, "analyze": ERR, "ablate": ERR, "runs": OK},
}
EXCEPTIONS = {
    # Without run.json the folder is no run at all: the folder above it holds none to list.
    ("run.json", "deleted", "runs"): ERR,
    # metrics.jsonl replaced by a link: a trainer must append to it, and never through a link.
    ("metrics.jsonl", "symlink-outside", "train-again"): ERR,
    ("metrics.jsonl", "symlink-outside", "resume"): ERR,
}


def _damages(target: str) -> list[str]:
    if target in FOLDERS:
        return ["symlink-outside"]
    kinds = ["truncated", "emptied", "non-utf8", "symlink-outside", "deleted"]
    if target in JSON_TARGETS:
        kinds.append("wrong-shape")
    if target in ("manifest.json", "run.json"):
        kinds.append("path-traversal")
    return kinds


CASES = [(t, d, c) for t in TARGETS for d in _damages(t) for c in COMMANDS]
SECURITY = ("symlink-outside", "path-traversal")


def _quick(target: str, kind: str, command: str) -> bool:
    """The share of the matrix the test command runs (the rest is marked slow): the security class
    against every command, and each other damage of a target against one command, in rotation."""
    if kind in SECURITY:
        return True
    commands = list(COMMANDS)
    return commands[(_damages(target).index(kind) + list(TARGETS).index(target)) % len(commands)] == command


def _wrong_shape(target: str, original: bytes) -> bytes:
    obj = json.loads(original)
    shapes = {
        "run.json": lambda: {**obj, "config": 5},
        "manifest.json": lambda: {**obj, "checkpoints": {"0": obj["checkpoints"]}},
        "fourier-cache": lambda: [obj],
    }
    return json.dumps(shapes[target]()).encode()


def _traversal(target: str, original: bytes, run: Path) -> bytes:
    obj = json.loads(original)
    if target == "manifest.json":  # another run's files, with their right sizes and hashes
        victim = run.parent.parent / "decoy" / "other_run" / "ckpt" / LAST_CKPT
        data = victim.read_bytes()
        obj["checkpoints"][-1] |= {
            "file": f"../../decoy/other_run/ckpt/{LAST_CKPT}",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        state = victim.parent.parent / "resume" / LAST_STATE
        obj["resume"] |= {
            "file": f"../../decoy/other_run/resume/{LAST_STATE}",
            "bytes": state.stat().st_size,
            "sha256": hashlib.sha256(state.read_bytes()).hexdigest(),
        }
    else:  # run.json naming a file outside the run (a facts file: its first line used to be printed)
        obj["config"]["task"]["facts_file"] = str(run.parent.parent / "decoy" / "secret.txt")
    return json.dumps(obj).encode()


def damage(run: Path, target: str, kind: str, decoy: Path) -> None:
    path = run.joinpath(*TARGETS[target])
    if kind == "symlink-outside":
        stand_in = decoy / "stand-in" / path.name
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, stand_in)  # the same content, outside: only the link is wrong
            shutil.rmtree(path)
        else:
            stand_in.write_bytes(path.read_bytes())
            path.unlink()
        path.symlink_to(stand_in)
        return
    if kind == "deleted":
        path.unlink()
        return
    original = path.read_bytes()
    data = {
        "truncated": lambda: original[: len(original) // 2],
        "emptied": lambda: b"",
        "non-utf8": lambda: b"\xff\xfe\x00garbage\xc3\x28" + original[8:],
        "wrong-shape": lambda: _wrong_shape(target, original),
        "path-traversal": lambda: _traversal(target, original, run),
    }[kind]()
    path.write_bytes(data)


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file and link under ``root`` (links as their target, never followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = b"-> " + os.readlink(p).encode()
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


# Session scope: built once per xdist worker, not again each time its tests follow another module's.
@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """A finished run with its cached analysis and report, and a second run to be the decoy's victim."""
    root = tmp_path_factory.mktemp("template")
    runner = CliRunner()
    for out in (root / "runs", root / "decoy"):
        r = runner.invoke(app, [*TRAIN, "--out", str(out)])
        assert r.exit_code == 0, r.output
    (root / "decoy" / NAME).rename(root / "decoy" / "other_run")
    r = runner.invoke(app, ["analyze", "fourier", str(root / "runs" / NAME), "--quiet"])
    assert r.exit_code == 0, r.output
    (root / "decoy" / "secret.txt").write_text("nobody may read or change this\n")
    return root


@pytest.mark.parametrize(
    "target,kind,command",
    [pytest.param(*c, id="-".join(c), marks=() if _quick(*c) else pytest.mark.slow) for c in CASES],
)
def test_damaged_run_folder(template, tmp_path, target, kind, command):
    shutil.copytree(template, tmp_path / "w", symlinks=True)
    run, decoy = tmp_path / "w" / "runs" / NAME, tmp_path / "w" / "decoy"
    damage(run, target, kind, decoy)
    outside, inside = tree(decoy), tree(run)

    result = CliRunner().invoke(app, COMMANDS[command](run))

    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"traceback: {result.exception!r}\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr
    expected = EXCEPTIONS.get((target, kind, command), EXPECT[target][command])
    if expected == ERR:
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (
            result.exit_code,
            result.stderr,
        )
    else:
        assert result.exit_code == 0, (result.exit_code, result.stderr)
        assert "error:" not in result.stderr, result.stderr

    if target == "fourier-cache" and command in ("analyze", "ablate") and kind != "deleted":
        assert "is damaged" in result.stderr and "computed again" in result.stderr, result.stderr
    if target == "last-checkpoint" and command in ("analyze", "ablate"):  # never silently
        assert f"skipped unreadable checkpoint at step {STEPS}" in result.stderr, result.stderr
    if target == "manifest.json" and kind == "deleted" and command != "runs":  # not "no checkpoints yet"
        assert "manifest.json is damaged (missing while ckpt/ holds checkpoints)" in result.stderr, result.stderr
    assert tree(decoy) == outside, "a byte changed outside the run folder"
    assert "nobody may read" not in result.output + result.stderr, "a file outside the run was read out"
    after = tree(run)
    for rel, data in inside.items():
        whole_ckpt = (
            rel.startswith(("ckpt/", "ckpt" + os.sep))
            and not data.startswith(b"-> ")
            and not (target == "last-checkpoint" and rel.endswith(LAST_CKPT))
        )
        if whole_ckpt:
            assert after.get(rel) == data, f"{rel} lost or changed"
        elif command not in TRAINERS and not rel.startswith("analysis"):
            assert after.get(rel) == data, f"{rel} changed by a command that does not train"
    if command in TRAINERS and target != "metrics.jsonl" and "metrics.jsonl" in inside:
        old, new = inside["metrics.jsonl"], after.get("metrics.jsonl", b"")
        previous = f'{{"step": {STEPS - CKPT_EVERY},'.encode()  # a fall-back resumes from there
        kept = old[: old.index(previous)] if result.exit_code == 0 else old
        assert new.startswith(kept), "metrics lines before the resumed step were lost"
