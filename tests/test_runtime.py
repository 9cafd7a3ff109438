"""Process-wide speed settings are opt-in and scoped: the library leaves the process as it found it."""

import ctypes
import ctypes.util
import sys

import pytest
import torch

from grokscope.runtime import denormals_flushed, flush_denormals

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

BIG = 64 << 20  # above glibc's largest adaptive mmap threshold (32 MiB): mapped fresh by default


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _glibc():
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc settings exist on Linux only")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("this C library has no mallinfo2 (glibc >= 2.33) to observe malloc with")
    libc.mallinfo2.restype = _MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def big_blocks_are_mapped() -> bool:
    """Whether a freshly allocated 64 MiB block gets its own mapping (glibc's default behaviour)."""
    libc = _glibc()
    before = libc.mallinfo2().hblkhd
    ptr = libc.malloc(BIG)
    try:
        return libc.mallinfo2().hblkhd - before >= BIG
    finally:
        libc.free(ptr)


@pytest.fixture
def denormals_as(request):
    """Start the test with flushing set to ``request.param``; put back what it was afterwards."""
    before = denormals_flushed()
    torch.set_flush_denormal(request.param)
    if denormals_flushed() != request.param:
        pytest.skip("this CPU cannot switch denormal flushing")
    yield request.param
    torch.set_flush_denormal(before)


@pytest.mark.parametrize("denormals_as", [False, True], indirect=True)
def test_flush_denormals_restores_what_it_found(denormals_as):
    with flush_denormals() as on:
        assert on and denormals_flushed()
    assert denormals_flushed() == denormals_as
    with flush_denormals(False):
        assert not denormals_flushed()
    assert denormals_flushed() == denormals_as


# glibc's heap keeps its history: once big blocks were served from it (inside keep_freed_memory,
# by an earlier test in this process), a free chunk in the middle of the heap can serve the next
# big request even with the default thresholds. So the malloc checks run in fresh interpreters.
ISOLATED = """
from tests.test_runtime import big_blocks_are_mapped
from grokscope.runtime import denormals_flushed, keep_freed_memory, speed_settings
seen = []
""".strip()


def run_isolated(body: str) -> list:
    """Run ``body`` after ISOLATED in a fresh interpreter; it appends what it observes to ``seen``."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = ISOLATED + "\n" + body + "\nimport json; print(json.dumps(seen))"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_keep_freed_memory_is_undone_on_exit():
    _glibc()
    seen = run_isolated("""
seen.append(big_blocks_are_mapped())
with keep_freed_memory() as ok:
    seen.append(ok)
    big_blocks_are_mapped()  # the first one grows the heap and stays there
    seen.append(big_blocks_are_mapped())
    with keep_freed_memory():  # nested: the inner block must not undo the outer one
        pass
    seen.append(big_blocks_are_mapped())
seen.append(big_blocks_are_mapped())
""")
    assert seen == [True, True, False, False, True]


@pytest.mark.parametrize("flush", [False, True])
def test_speed_settings_keep_memory_and_leave_denormals_to_the_compute(flush):
    _glibc()
    seen = run_isolated(f"""
import torch
torch.set_flush_denormal({flush})
with speed_settings():
    seen.append(denormals_flushed())
    big_blocks_are_mapped()
    seen.append(big_blocks_are_mapped())
seen += [denormals_flushed(), big_blocks_are_mapped()]
""")
    assert seen == [flush, False, flush, True]


@pytest.mark.parametrize("flush", [False, True])
def test_train_and_analyze_leave_the_process_as_they_found_it(flush):
    _glibc()
    seen = run_isolated(f"""
import tempfile, torch
from grokscope.analysis.fourier.pipeline import analyze_fourier
from grokscope.training.train import train
from tests.conftest import tiny_config
torch.set_flush_denormal({flush})
with tempfile.TemporaryDirectory() as out:
    run = train(tiny_config(steps=30, eval_every=10, ckpt_every=10), out, device="cpu")
    seen += [denormals_flushed(), big_blocks_are_mapped()]
    analyze_fourier(run, use_cache=False)
    seen += [denormals_flushed(), big_blocks_are_mapped()]
""")
    assert seen == [flush, True, flush, True]
