"""Sweeps: many runs as one resumable experiment (``grokscope sweep``, ``gs.sweep``, ``gs.load_sweep``)."""
