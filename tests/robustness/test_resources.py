"""A full disk, a read-only filesystem and a folder without permission: one line, exit 2, and every
checkpoint written before intact (and the run continued by the same command once space is back).

The disk is a small tmpfs and the read-only filesystem a remounted one, which needs root; the
permission case runs the command as root without its override of permissions (``setpriv``). Without root these tests
are skipped, saying why.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grokscope.cli.main import app
from grokscope.store.run import Run
from tests.conftest import ckpt_bytes, tl_independent
from tests.robustness.test_fault_matrix import NAME, STEPS, TRAIN

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs and dropping capabilities need root"),
    tl_independent,
]


def _mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")


@pytest.fixture
def tmpfs(tmp_path):
    mounts: list[Path] = []

    def make(name: str, size: str) -> Path:
        path = tmp_path / name
        _mount(path, f"size={size}")
        mounts.append(path)
        return path

    yield make
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _one_line(result, needle: str) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


def test_a_full_disk_stops_training_with_one_line_and_the_same_command_continues(tmpfs, tmp_path):
    reference = CliRunner().invoke(app, [*TRAIN, "--out", str(tmp_path / "ref")])
    assert reference.exit_code == 0, reference.output
    disk = tmpfs("disk", "5m")  # a few checkpoints' worth (each is ~0.8 MB of weights + ~1.6 MB of state)

    line = _one_line(CliRunner().invoke(app, [*TRAIN, "--out", str(disk)]), "no space left on the device")
    assert "every file written before is intact" in line
    run = Run(disk / NAME)
    assert run.steps, "some checkpoints were committed before the disk filled"
    for step in run.steps:  # every committed checkpoint loads (size and hash checked)
        run.state_dict(step)

    subprocess.run(["mount", "-o", "remount,size=200m", str(disk)], check=True)
    again = CliRunner().invoke(app, [*TRAIN, "--out", str(disk)])
    assert again.exit_code == 0, again.stderr
    assert ckpt_bytes(disk / NAME) == ckpt_bytes(tmp_path / "ref" / NAME)
    assert Run(disk / NAME).steps[-1] == STEPS


def test_a_read_only_filesystem_refuses_writes_but_still_analyses(tmpfs, tmp_path):
    disk = tmpfs("ro", "50m")
    assert CliRunner().invoke(app, [*TRAIN, "--out", str(disk)]).exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    run = disk / NAME

    _one_line(
        CliRunner().invoke(app, ["train", "--resume", str(run), "--steps", str(STEPS + 20), "--quiet"]),
        "Read-only file system",
    )
    # The analysis is computed and printed; the report it cannot put into the run is the one error.
    result = CliRunner().invoke(app, ["analyze", "fourier", str(run), "--quiet"])
    assert "key frequencies:" in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 2 and last.startswith("error: cannot write the report into") and "--out" in last, last
    ok = CliRunner().invoke(app, ["analyze", "fourier", str(run), "--quiet", "--out", str(tmp_path / "r.html")])
    assert ok.exit_code == 0 and (tmp_path / "r.html").stat().st_size > 10_000, ok.stderr
    assert not (run / "analysis").exists()


def test_a_folder_without_permission_is_one_line_and_nothing_is_made(tmp_path):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run the command without root's override of permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)  # nobody may write here but a process that overrides permissions
    # Root without CAP_DAC_OVERRIDE is refused like any user (and can still run this interpreter).
    done = subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            sys.executable,
            "-m",
            "grokscope.cli.main",
            *TRAIN,
            "--out",
            str(locked / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "cannot write to" in lines[0] and str(locked) in lines[0]
    assert list(locked.iterdir()) == []
