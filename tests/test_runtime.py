"""Process-wide speed settings are opt-in and scoped: the library leaves the process as it found it."""

import ctypes
import ctypes.util
import sys

import pytest
import torch

from grokscope.runtime import denormals_flushed, flush_denormals, keep_freed_memory, speed_settings
from tests.conftest import tiny_config

BIG = 64 << 20  # above glibc's largest adaptive mmap threshold (32 MiB): mapped fresh by default


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]


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


def test_keep_freed_memory_is_undone_on_exit():
    assert big_blocks_are_mapped()
    with keep_freed_memory() as ok:
        assert ok
        big_blocks_are_mapped()  # the first one grows the heap and stays there
        assert not big_blocks_are_mapped()
        with keep_freed_memory():  # nested: the inner block must not undo the outer one
            pass
        assert not big_blocks_are_mapped()
    assert big_blocks_are_mapped()


@pytest.mark.parametrize("denormals_as", [False, True], indirect=True)
def test_speed_settings_keep_memory_and_leave_denormals_to_the_compute(denormals_as):
    with speed_settings():
        assert denormals_flushed() == denormals_as
        big_blocks_are_mapped()
        assert not big_blocks_are_mapped()
    assert denormals_flushed() == denormals_as and big_blocks_are_mapped()


@pytest.mark.parametrize("denormals_as", [False, True], indirect=True)
def test_train_and_analyze_leave_the_process_as_they_found_it(denormals_as, tmp_path):
    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.training.train import train

    run = train(tiny_config(steps=30, eval_every=10, ckpt_every=10), tmp_path, device="cpu")
    assert denormals_flushed() == denormals_as and big_blocks_are_mapped()
    analyze_fourier(run, use_cache=False)
    assert denormals_flushed() == denormals_as and big_blocks_are_mapped()
