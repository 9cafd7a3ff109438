"""The 1-layer modular-arithmetic model (Nanda et al. 2023's ``grok1l``), every way grokscope computes it.

- ``params``: :class:`~.params.Grok1LParams`, the typed parameters; the only place their
  state-dict names are spelled.
- ``reference``: the specification, a plain forward at every position.
- ``final_position``: the logits at the last position only, in PyTorch ops (any device).
- ``fused`` and ``gather_kernels``: the same with the per-example work in numba kernels (CPU).
- ``backward``: the fused training step's backward, written out by hand.
- ``grid``: all ``p^2`` inputs for a stack of checkpoints at once (the analyses).
- ``paths``: :func:`~.paths.supports` and :func:`~.paths.choose_path`, which of them applies.

Every path is checked against ``HookedTransformer`` in ``tests/models/grok1l/test_parity.py``.
Nothing is imported here, so each module costs only what it uses.
"""
