"""F, the fusion network (supplementary §1.4 and Table 2): merges the two cascades' colorings.

The forward cascade (G on the descreened image) and the reverse cascade (G on the halftone, then
IHN per channel) make two RGB images; F combines them into the final color image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from halftint.nets.layers import ResidualBlock, check_image, zero_init


@dataclass(frozen=True)
class FusionConfig:
    """Widths of F; the defaults are the paper's (241,795 parameters).

    Attributes:
        channels: width of the residual blocks.
        residual_blocks: number of residual blocks.
        padding: the convolutions' border rule, "zeros" (the paper) or "reflect" (no border
            band: a uniform input gives a uniform output).
        residual: predict a correction of the forward cascade's image instead of the image
            (the last convolution starts at zero, so a fresh F passes the forward cascade
            through). The paper's F predicts the image; measured on lite colorizers, a narrow
            F trained so was worse than either cascade alone (weights.md).
    """

    channels: int = 64
    residual_blocks: int = 3
    padding: str = "zeros"
    residual: bool = False

    def __post_init__(self) -> None:
        if self.padding not in ("zeros", "reflect"):
            raise ValueError(f"padding must be zeros or reflect, got {self.padding!r}")


class FusionNet(nn.Module):
    """F: two RGB images in, one RGB image out.

    Contract: `a` and `b` are `(B, 3, H, W)` RGB in [0, 1]; returns `(B, 3, H, W)`, nominally in
    [0, 1] but not clamped (the network has no output activation; callers clamp once, at the
    end). Dtype and device follow the input. It works directly in [0, 1].

    Layers: Conv7x7 (6 -> channels) + ReLU, residual blocks `ReLU(x + Conv(ReLU(Conv(x))))`
    without bias, Conv3x3 (channels -> 3); the first and last convolutions have bias. With
    `residual`, that output is added to `a` (the forward cascade's image).
    """

    def __init__(self, config: FusionConfig | None = None) -> None:
        super().__init__()
        self.config = config or FusionConfig()
        width = self.config.channels
        mode: Literal["zeros", "reflect"] = (
            "reflect" if self.config.padding == "reflect" else "zeros"
        )
        self.head = nn.Conv2d(6, width, 7, padding=3, padding_mode=mode)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(width, bias=False, activate_output=True, padding_mode=mode)
                for _ in range(self.config.residual_blocks)
            )
        )
        self.tail = nn.Conv2d(width, 3, 3, padding=1, padding_mode=mode)
        if self.config.residual:
            zero_init(self.tail)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W)` twice -> `(B, 3, H, W)` (not clamped)."""
        check_image(a, "a", 3)
        if b.shape != a.shape:
            raise ValueError(f"b must have the shape of a {tuple(a.shape)}, got {tuple(b.shape)}")
        out = self.tail(self.blocks(F.relu(self.head(torch.cat([a, b], dim=1)))))
        return a + out if self.config.residual else out
