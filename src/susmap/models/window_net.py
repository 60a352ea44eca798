"""Torch module classes of the patch CNN; imports torch, so patch_cnn imports it only when a network is built."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["WindowNet"]


class WindowNet(nn.Module):
    """A fully convolutional body; windows (n, C, k, k) → logits (n, 2), larger inputs → logit maps."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)  # (n, 2, h - k + 1, w - k + 1)
        return out[:, :, 0, 0] if out.shape[2:] == (1, 1) else out
