"""D, the discriminator (supplementary §1.2, BicycleGAN's two-scale PatchGAN), conditioned on `z`.

Used in training only: it judges (image, z) pairs, so that G cannot ignore the color code. The
authors changed BicycleGAN's first convolution to take the image concatenated with z tiled.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from halftint.nets.layers import check_image


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Widths of D; the defaults are the paper's (3,473,954 parameters).

    Attributes:
        base_channels: width of the first convolution at full scale (halved per scale).
        layers: stride-2 Conv4x4 layers per scale (two stride-1 layers follow).
        scales: number of scales; scale k sees the input average-pooled k times.
        max_multiplier: the widest layer has base * max_multiplier channels.
        z_dim: size of the color code.
    """

    base_channels: int = 64
    layers: int = 3
    scales: int = 2
    max_multiplier: int = 8
    z_dim: int = 8


def _patch_side(side: int, layers: int) -> int:
    """Output side of one PatchGAN for an input side (Conv4x4 pad 1: stride 2 halves, 1 trims)."""
    for _ in range(layers):
        side = (side + 2 - 4) // 2 + 1
    return side - 2


class PatchDiscriminator(nn.Sequential):
    """One scale: Conv4x4 stride 2 (x layers) then two stride-1 Conv4x4, LeakyReLU(0.2).

    BatchNorm follows every convolution but the first and the last; all convolutions have bias.
    """

    def __init__(self, in_channels: int, base: int, layers: int, max_multiplier: int) -> None:
        widths = [base * min(2**i, max_multiplier) for i in range(layers + 1)]
        modules: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            modules += [
                nn.Conv2d(widths[i - 1], widths[i], 4, stride=stride, padding=1),
                nn.BatchNorm2d(widths[i]),
                nn.LeakyReLU(0.2),
            ]
        modules.append(nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1))
        super().__init__(*modules)


class Discriminator(nn.Module):
    """D: an RGB image and its color code in, one logit map per scale out.

    Contract: `rgb` is `(B, 3, H, W)` in [0, 1], `z` is `(B, z_dim)`; returns a list of
    `(B, 1, h_k, w_k)` logit maps, full scale first (30x30 and 14x14 at 256x256 for the paper
    sizes). Dtype and device follow the input. Inside, the image is mapped to [-1, 1]; scale
    k + 1 sees scale k's input average-pooled (3x3, stride 2). Inputs too small to leave at
    least one patch at the coarsest scale raise a ValueError naming the minimum side.
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        self.scales = nn.ModuleList(
            PatchDiscriminator(
                3 + config.z_dim,
                max(1, config.base_channels // 2**scale),
                config.layers,
                config.max_multiplier,
            )
            for scale in range(config.scales)
        )
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def min_side(self) -> int:
        """The smallest input side that leaves one patch at the coarsest scale."""
        side = 1
        while not self._fits(side):
            side += 1
        return side

    def _fits(self, side: int) -> bool:
        for scale in range(self.config.scales):
            if scale > 0:
                side = (side - 1) // 2 + 1
            if _patch_side(side, self.config.layers) < 1:
                return False
        return True

    def forward(self, rgb: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 3, H, W)` in [0, 1] and `(B, z_dim)` -> list of `(B, 1, h, w)` logit maps."""
        check_image(rgb, "rgb", 3)
        batch, _, height, width = rgb.shape
        if z.shape != (batch, self.config.z_dim):
            raise ValueError(
                f"z must have shape ({batch}, {self.config.z_dim}), got {tuple(z.shape)}"
            )
        if not self._fits(min(height, width)):
            raise ValueError(
                f"the discriminator needs images at least {self.min_side()} pixels on a side, "
                f"got {height}x{width}"
            )
        tiled = z.to(rgb.dtype).view(batch, -1, 1, 1).expand(-1, -1, height, width)
        x = torch.cat([rgb * 2 - 1, tiled], dim=1)
        outputs = []
        for scale, patch in enumerate(self.scales):
            if scale > 0:
                x = self.downsample(x)
            outputs.append(patch(x))
        return outputs
