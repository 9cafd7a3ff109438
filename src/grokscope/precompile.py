"""Compile the numba kernels at set-up (``python -m grokscope.precompile``), not in a user's first run.

numba keeps compiled code beside the sources (``__pycache__``, per machine and source version).
Without this, the first ``grokscope train`` on a machine spends ~6 s compiling the fused training
step, and the first ``grokscope analyze`` its own kernels, inside the time a user watches. A
seconds-long run of the real code paths (train a tiny modular run, analyse it) compiles exactly
the signatures they use; later runs load them from the cache.
"""

import tempfile


def precompile() -> None:
    """Train and analyse a throwaway mod-13 run on the CPU, which compiles every kernel they use."""
    from grokscope.analysis.fourier.pipeline import analyze_fourier
    from grokscope.api import train

    with tempfile.TemporaryDirectory() as tmp:
        run = train(
            "mod13", out=tmp, device="cpu", steps=3, eval_every=1, ckpt_every=1, stop_after_grok=None, progress=False
        )
        analyze_fourier(run, use_cache=False)


if __name__ == "__main__":
    precompile()
