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

from halftint.color import chroma_statistics
from halftint.nets.layers import check_image

# `color.chroma_statistics` of a reference (mean Cb and Cr offsets, then their standard
# deviations), centred and scaled by their spread over the 160 training photos of the `lite`
# bundles at 128 px, so that each is about N(0, 1) from one photo to the next
COLOR_CENTER = (-0.03, 0.0, 0.06, 0.05)
COLOR_SCALE = (0.06, 0.05, 0.03, 0.03)
# a fresh E with color statistics starts nearly deterministic (log-variance -4: sigma 0.14), as
# trained encoders end, so the statistics are not drowned in the code's noise from the start
COLOR_START_LOGVAR = -4.0


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
        color_statistics: a linear head of the reference's chroma statistics (standardized
            by `COLOR_CENTER`, `COLOR_SCALE`) adds to mu; a fresh E's first four code
            dimensions are those statistics. The convolutions cannot see a global color:
            each feature map's instance norm removes its mean and scale, so a cast or a change
            of saturation barely moves the paper's E (False, as published).
    """

    input_size: int = 256
    base_channels: int = 64
    downsamples: int = 2
    residual_blocks: int = 4
    pool_size: int = 8
    z_dim: int = 8
    color_statistics: bool = False

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

    color_center: torch.Tensor
    color_scale: torch.Tensor

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
        if config.color_statistics:
            # a head of its own, added to mu: the features' heads keep their shapes, so a
            # trained E without statistics extends to one with them (`init_extend`)
            statistics = len(COLOR_CENTER)
            self.color = nn.Linear(statistics, config.z_dim, bias=False)
            self.register_buffer("color_center", torch.tensor(COLOR_CENTER), persistent=False)
            self.register_buffer("color_scale", torch.tensor(COLOR_SCALE), persistent=False)
            with torch.no_grad():
                dims = min(statistics, config.z_dim)
                self.color.weight.zero_()
                self.color.weight[:dims, :dims].copy_(torch.eye(dims))
                self.mu.weight[:dims].zero_()
                self.mu.bias[:dims].zero_()
                self.logvar.bias.fill_(COLOR_START_LOGVAR)

    def forward(self, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, 3, H, W)` in [0, 1] -> `(mu, logvar)`, each `(B, z_dim)`."""
        check_image(reference, "reference", 3)
        image = fit_reference(reference, self.config.input_size)
        features = self.features(image * 2 - 1).flatten(1)
        mu = self.mu(features)
        if self.config.color_statistics:
            statistics = chroma_statistics(image.clamp(0.0, 1.0)).to(features.dtype)
            mu = mu + self.color((statistics - self.color_center) / self.color_scale)
        return mu, self.logvar(features)
