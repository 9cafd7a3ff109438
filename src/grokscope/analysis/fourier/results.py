"""Result types of the Fourier analysis that need neither torch nor TransformerLens.

They hold numpy arrays, so a cached analysis loads (and plots) without importing torch.
"""

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int


@dataclass(frozen=True)
class KeyFrequencyRule:
    """The documented rule that names the key frequencies of a model.

    A neuron joins frequency ``k``'s cluster when ``k`` explains at least ``min_fve`` of its
    variance over the ``(a, b)`` grid (it is then necessarily its largest FVE, since
    ``min_fve > 0.5``). Dead neurons (variance below ``dead_tol`` times the largest) are ignored.
    ``k`` is a key frequency when its cluster holds at least ``min_share`` of the live neurons
    and at least ``min_neurons`` neurons: the MLP computes with it, not merely mentions it.

    Thresholds: 0.85 is the paper's cut for labelling clusters; 0.6 keeps neurons that still carry
    memorisation noise before cleanup. 2% of 512 neurons is about 10: in the paper's model the
    smallest real cluster holds 44 neurons, and at init no neuron reaches 0.6 at all.
    """

    min_fve: float = 0.6
    min_share: float = 0.02
    min_neurons: int = 3
    dead_tol: float = 1e-6

    def __post_init__(self) -> None:
        if not 0.5 < self.min_fve <= 1:
            raise ValueError(f"min_fve must be in (0.5, 1] so a neuron joins one cluster, got {self.min_fve}")
        if not 0 <= self.min_share <= 1 or self.min_neurons < 1:
            raise ValueError(f"need 0 <= min_share <= 1 and min_neurons >= 1, got {self.min_share}, {self.min_neurons}")


@dataclass(frozen=True, eq=False)
class FrequencyTracks:
    """Per-checkpoint, per-frequency signals (``[i, k-1]`` is checkpoint ``i``, frequency ``k``).

    ``neuron_clusters``: live neurons whose variance ``k`` explains at least the rule's ``min_fve``;
    ``neuron_share``: share of all neurons' centred energy in ``k``'s blocks;
    ``embed_norms``/``logit_map_norms``: frequency norms of ``W_E`` and ``W_L``;
    ``logit_share``: share of the (class-centred) logits' energy along ``cos/sin(w_k (a+b))``;
    ``key_frequencies``: the rule applied to each checkpoint on its own.
    """

    steps: list[int]
    neuron_clusters: Int[np.ndarray, "ckpt n_freq"]
    neuron_share: Float[np.ndarray, "ckpt n_freq"]
    embed_norms: Float[np.ndarray, "ckpt n_freq"]
    logit_map_norms: Float[np.ndarray, "ckpt n_freq"]
    logit_share: Float[np.ndarray, "ckpt n_freq"]
    key_mask: np.ndarray  # bool (ckpt, n_freq)

    @property
    def key_frequencies(self) -> list[list[int]]:
        return [[int(k) + 1 for k in np.flatnonzero(row)] for row in self.key_mask]


@dataclass(frozen=True, eq=False)
class FinalSpectra:
    """Fourier views of one checkpoint (the last one), for the figures.

    ``embed_components``/``logit_map_components``: per-component norms (``p``; index 0 is const);
    ``neuron_fve``/``neuron_variance``: see :class:`~grokscope.analysis.fourier.basis.NeuronFrequencies`;
    ``logit_spectrum[f, g]``: norm over output classes of the logits' 2D transform.
    """

    step: int
    embed_components: Float[np.ndarray, " p"]
    logit_map_components: Float[np.ndarray, " p"]
    neuron_fve: Float[np.ndarray, "n_neurons n_freq"]
    neuron_variance: Float[np.ndarray, " n_neurons"]
    logit_spectrum: Float[np.ndarray, "p p"]
