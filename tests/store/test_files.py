"""Checkpoint files are verified before loading; damaged ones are reported, not loaded."""

import pytest
import torch

from grokscope.store.files import CorruptCheckpointError, load_tensors, save_tensors
from grokscope.store.folder import RunFolder
from grokscope.store.records import FileEntry
from grokscope.training.train import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py


def test_roundtrip_and_manifest_entry(tmp_path):
    t = {"w": torch.randn(3, 4), "b": torch.arange(5)}
    size, sha = save_tensors(RunFolder(tmp_path), ("x.safetensors",), t, {"step": "7"})
    assert size == (tmp_path / "x.safetensors").stat().st_size
    back = load_tensors(RunFolder(tmp_path), ("x.safetensors",), FileEntry("x.safetensors", size, sha, 7))
    assert torch.equal(back["w"], t["w"]) and torch.equal(back["b"], t["b"])
    assert not list(tmp_path.glob(".*tmp")), "no temporary files left behind"


def test_truncated_checkpoint_is_detected_not_loaded(tmp_path):
    run = train(tiny_config(steps=20), tmp_path)
    victim = run.path / "ckpt" / "step_0000012.safetensors"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        run.state_dict(12)
    # Even without a manifest entry, safetensors refuses the torn file.
    with pytest.raises(CorruptCheckpointError):
        load_tensors(run.folder, ("ckpt", victim.name))
    stack = run.stack(["embed.W_E"])
    assert 12 not in stack.steps and [s for s, _ in stack.skipped] == [12]
    assert stack.params["embed.W_E"].shape[0] == len(run.steps) - 1


def test_altered_checkpoint_is_detected(tmp_path):
    run = train(tiny_config(steps=8), tmp_path)
    victim = run.path / "ckpt" / "step_0000004.safetensors"
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="SHA-256"):
        run.state_dict(4)


def test_checkpoints_hold_no_pickle(tmp_path):
    run = train(tiny_config(steps=4), tmp_path)
    for f in (run.path / "ckpt").iterdir():
        assert b"\x80\x04" not in f.read_bytes()[:16]  # pickle protocol header
        assert f.suffix == ".safetensors"


def test_atomic_write_leaves_a_readable_file_and_no_temporary(tmp_path):
    from grokscope.store.files import write_bytes_atomic

    target = tmp_path / "report.html"
    target.write_text("old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
