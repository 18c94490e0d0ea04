"""Building blocks shared by two or more networks: the U-Net, residual blocks, padding, checks.

The U-Net is the one of pix2pix / BicycleGAN (used by G and by IHN's content branch) with
bilinear upsampling instead of transposed convolutions. It is written flat (a list of down
blocks, a bottleneck, a list of up blocks) rather than as nested recursive blocks, so that its
state-dict keys stay short and its forward pass reads top to bottom.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_image(tensor: torch.Tensor, name: str, channels: int) -> None:
    """Raise ValueError unless `tensor` is `(B, channels, H, W)` with B, H, W >= 1.

    Args:
        tensor: the tensor to check.
        name: what the tensor is, for the error message (e.g. "halftone").
        channels: the required channel count.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != 4 or tensor.shape[1] != channels or 0 in tensor.shape:
        raise ValueError(
            f"{name} must be a (B, {channels}, H, W) tensor, got shape {tuple(tensor.shape)}"
        )


def reflect_pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of `(B, C, H, W)` so that H and W divide by `multiple`.

    Reflection padding needs the pad to be smaller than the side, so a side much smaller than
    `multiple` is reflected in several rounds (each round at most side - 1); a side of one pixel
    cannot be reflected and is replicated instead.
    """
    height, width = image.shape[-2:]
    pad_height = -height % multiple
    pad_width = -width % multiple
    while pad_height > 0 or pad_width > 0:
        height, width = image.shape[-2:]
        step_height = min(pad_height, height - 1)
        step_width = min(pad_width, width - 1)
        if step_height == 0 and step_width == 0:
            return F.pad(image, (0, pad_width, 0, pad_height), mode="replicate")
        image = F.pad(image, (0, step_width, 0, step_height), mode="reflect")
        pad_height -= step_height
        pad_width -= step_width
    return image


def level_channels(base_channels: int, depth: int, max_multiplier: int) -> list[int]:
    """Channels after each U-Net down level: base * 1, 2, 4, ... capped at base * max_multiplier."""
    return [base_channels * min(2**level, max_multiplier) for level in range(depth)]


class SampleStatisticsBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that, at inference, normalizes each sample with its own statistics.

    Training is ordinary BatchNorm (batch statistics; running averages kept, so the state dict
    is a BatchNorm2d's). In eval mode it does not use the running averages but each sample's own
    per-channel mean and variance, like pix2pix and BicycleGAN run their generators at test
    time with batch size 1. Why: G is trained on two kinds of input (descreened gray images and
    raw halftones), so one set of running averages fits neither; measured on the lite colorizer,
    running averages gave an L1 of 0.33 to the truth, per-sample statistics 0.11. Per-sample
    (not per-batch) statistics also keep every output independent of what else is in its batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class UNet(nn.Module):
    """The U-Net of G and IHN (pix2pix generator with bilinear upsampling).

    Level `i` (0 = outermost) maps its input to `channels[i]` on the way down and back to its
    input's width on the way up; every level but the outermost concatenates its input (the skip)
    with its up output:

    - down: LeakyReLU(0.2) -> Conv4x4 stride 2 -> BatchNorm (outermost: conv only;
      innermost: no norm),
    - up: ReLU -> bilinear x2 -> reflection pad 1 -> Conv3x3 -> BatchNorm (outermost: no norm,
      then tanh), with dropout after the two levels just above the innermost.

    With `sample_statistics`, the BatchNorms normalize each sample by its own statistics at
    inference (see `SampleStatisticsBatchNorm2d`). An optional `bottleneck` module runs between
    the innermost down and up (IHN's dense block); it must keep the channel count. All
    convolutions have bias.

    Shapes: `(B, in_channels, H, W)` -> `(B, out_channels, H, W)` in [-1, 1] (tanh), for any
    H, W: the input is reflect-padded to a multiple of `2**depth` and the output cropped back.
    Dtype and device follow the input.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        base_channels: int,
        depth: int,
        max_multiplier: int,
        dropout: float,
        bottleneck: nn.Module | None = None,
        sample_statistics: bool = False,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"a U-Net needs depth >= 2, got {depth}")
        self.depth = depth
        inner = level_channels(base_channels, depth, max_multiplier)
        outer = [out_channels, *inner[:-1]]
        inputs = [in_channels, *inner[:-1]]
        innermost = depth - 1
        norm = SampleStatisticsBatchNorm2d if sample_statistics else nn.BatchNorm2d
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level in range(depth):
            down: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            down.append(nn.Conv2d(inputs[level], inner[level], 4, stride=2, padding=1))
            if 0 < level < innermost:
                down.append(norm(inner[level]))
            self.downs.append(nn.Sequential(*down))

            # below the innermost level nothing is concatenated, above it the skip doubles width
            up_in = inner[level] if level == innermost else 2 * inner[level]
            up: list[nn.Module] = [
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.ReflectionPad2d(1),
                nn.Conv2d(up_in, outer[level], 3),
            ]
            if level == 0:
                up.append(nn.Tanh())
            else:
                up.append(norm(outer[level]))
            if max(0, innermost - 3) < level < innermost and dropout > 0:
                up.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*up))
        self.bottleneck = bottleneck if bottleneck is not None else nn.Identity()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Run the U-Net; see the class docstring for the contract."""
        height, width = image.shape[-2:]
        x = reflect_pad_to_multiple(image, 2**self.depth)
        skips = []
        for down in self.downs:
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = self.ups[level](x)
            if level > 0:
                x = torch.cat([skips[level], x], dim=1)
        return x[..., :height, :width]


class ResidualBlock(nn.Module):
    """`x + Conv3x3(ReLU(Conv3x3(x)))`, zero padding, optional ReLU after the sum.

    Used bias-free by IHN's detail branch (no activation after the sum, as in Xia & Wong's
    progressively residual learning) and by F (ReLU after the sum, supplementary Table 2).
    """

    def __init__(self, channels: int, *, bias: bool, activate_output: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=bias)
        self.activate_output = activate_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> `(B, C, H, W)`."""
        out = x + self.conv2(F.relu(self.conv1(x)))
        return F.relu(out) if self.activate_output else out
