"""E, the reference encoder (supplementary §1.2, BicycleGAN's encoder): color image -> (mu, logvar).

E summarises a reference image's colors into the mean and log-variance of an 8-dimensional
Gaussian; the colorization network G is conditioned on a code `z` drawn from it (or on its
mean, or on a code drawn from N(0, I) in random mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from halftint.nets.layers import check_image


@dataclass(frozen=True)
class EncoderConfig:
    """Widths of E; the defaults are the paper's (5,361,296 parameters).

    Attributes:
        input_size: references are resized and center-cropped to this square size.
        base_channels: width of the first convolution (doubling per downsampling).
        downsamples: stride-2 convolutions after the first one.
        residual_blocks: residual blocks at the widest level.
        pool_size: kernel and stride of the average pooling before the linear heads.
        z_dim: size of the color code.
    """

    input_size: int = 256
    base_channels: int = 64
    downsamples: int = 2
    residual_blocks: int = 4
    pool_size: int = 8
    z_dim: int = 8

    @property
    def pooled_side(self) -> int:
        """Side of the feature map the linear heads see."""
        return self.input_size // 2**self.downsamples // self.pool_size


class _InstanceNormResidualBlock(nn.Module):
    """`x + (pad, Conv3x3, IN, ReLU, pad, Conv3x3, IN)(x)` with reflection padding."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> `(B, C, H, W)`."""
        return x + self.layers(x)


def fit_reference(reference: torch.Tensor, size: int) -> torch.Tensor:
    """Resize `(B, C, H, W)` so its short side is `size` (antialiased), then center-crop square.

    The aspect ratio is kept: a reference is never distorted, only cropped.
    """
    height, width = reference.shape[-2:]
    if (height, width) == (size, size):
        return reference
    scale = size / min(height, width)
    new_height = max(size, round(height * scale))
    new_width = max(size, round(width * scale))
    resized = F.interpolate(
        reference,
        size=(new_height, new_width),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    top = (new_height - size) // 2
    left = (new_width - size) // 2
    return resized[..., top : top + size, left : left + size]


class ReferenceEncoder(nn.Module):
    """E: a color reference in, the parameters of its color code's Gaussian out.

    Contract: `reference` is `(B, 3, H, W)` RGB in [0, 1], any H and W (resized so the short
    side is `config.input_size`, then center-cropped); returns `(mu, logvar)`, each
    `(B, z_dim)`. Dtype and device follow the input. Inside, the image is mapped to [-1, 1].
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or EncoderConfig()
        if config.pooled_side < 1:
            raise ValueError(
                f"encoder input_size {config.input_size} is too small for {config.downsamples} "
                f"downsamples and pool_size {config.pool_size}"
            )
        width = config.base_channels
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(3, width, 7),
            nn.InstanceNorm2d(width),
            nn.ReLU(),
        ]
        for _ in range(config.downsamples):
            layers += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(width, width * 2, 3, stride=2),
                nn.InstanceNorm2d(width * 2),
                nn.ReLU(),
            ]
            width *= 2
        layers += [_InstanceNormResidualBlock(width) for _ in range(config.residual_blocks)]
        layers.append(nn.AvgPool2d(config.pool_size))
        self.features = nn.Sequential(*layers)
        flat = width * config.pooled_side**2
        self.mu = nn.Linear(flat, config.z_dim)
        self.logvar = nn.Linear(flat, config.z_dim)

    def forward(self, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, 3, H, W)` in [0, 1] -> `(mu, logvar)`, each `(B, z_dim)`."""
        check_image(reference, "reference", 3)
        image = fit_reference(reference, self.config.input_size)
        features = self.features(image * 2 - 1).flatten(1)
        return self.mu(features), self.logvar(features)
