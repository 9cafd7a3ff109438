"""Big scratch buffers kept from one call to the next (the analyses' per-checkpoint passes)."""

import torch
from torch import Tensor


class Workspace:
    """Big buffers reused from one call to the next.

    A fresh multi-MB tensor costs time before any arithmetic: large blocks are usually mapped
    from the OS when allocated and unmapped when freed, so every page of a new one faults on first
    touch. A checkpoint needs several such buffers; reusing them pays those page faults once per
    shape instead of once per checkpoint. Results built in a workspace are overwritten by the
    next call that uses it.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._buffers[name] = buf
        return buf
