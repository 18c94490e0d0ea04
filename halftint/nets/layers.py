"""Building blocks shared by two or more networks: the U-Net, residual blocks, padding, checks.

The U-Net is the one of pix2pix / BicycleGAN (used by G and by IHN's content branch) with
bilinear upsampling instead of transposed convolutions. It is written flat (a list of down
blocks, a bottleneck, a list of up blocks) rather than as nested recursive blocks, so that its
state-dict keys stay short and its forward pass reads top to bottom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

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


class CodeModulation(nn.Module):
    """FiLM: `x * (1 + gamma(z)) + beta(z)`, per channel, from a code `z` (Perez et al., 2018).

    The linear map starts at zero, so a fresh modulation is the identity. A code applied this
    way, after a normalization, survives it; a code tiled over the input is a per-channel
    constant that each sample's own normalization subtracts again.
    """

    def __init__(self, code_dim: int, channels: int) -> None:
        super().__init__()
        self.linear = zero_init(nn.Linear(code_dim, 2 * channels))

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)`, `(B, code_dim)` -> `(B, C, H, W)`."""
        gamma, beta = self.linear(code.to(x.dtype)).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (1 + gamma) + beta


UNET_NORMS = ("batch", "instance")
UNET_PADDINGS = ("zeros", "reflect")


class UNet(nn.Module):
    """The U-Net of G and IHN (pix2pix generator with bilinear upsampling).

    Level `i` (0 = outermost) maps its input to `channels[i]` on the way down and back to its
    input's width on the way up; every level but the outermost concatenates its input (the skip)
    with its up output:

    - down: LeakyReLU(0.2) -> Conv4x4 stride 2 -> norm (outermost: conv only;
      innermost: no norm),
    - up: ReLU -> bilinear x2 -> reflection pad 1 -> Conv3x3 -> norm (outermost: no norm,
      then tanh), with dropout after the two levels just above the innermost.

    `norm` is "batch" (BatchNorm; with `sample_statistics` each sample is normalized by its own
    statistics at inference, see `SampleStatisticsBatchNorm2d`) or "instance" (each sample's own
    statistics in training and at inference alike); `norm_eps` is its epsilon (0: 1e-3 for
    instance norm, see INSTANCE_NORM_EPS, 1e-5 for batch norm). `padding` is the down
    convolutions' border rule ("zeros" as pix2pix, or "reflect"). With `code_dim` > 0 the
    forward pass takes a code that modulates every level's down and up output but the last
    (`CodeModulation`). An optional `bottleneck` module runs between the innermost down and up
    (IHN's dense block); it must keep the channel count. With `feature_channels` (channels per
    down level, 0 = none) the forward pass also takes one feature map per such level, at that
    level's resolution, which a 1x1 convolution (zero at start, so a fresh U-Net ignores them)
    adds to the level's down output (G's semantic features). All convolutions have bias.

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
        norm: str = "batch",
        padding: str = "zeros",
        code_dim: int = 0,
        feature_channels: tuple[int, ...] = (),
        norm_eps: float = 0.0,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"a U-Net needs depth >= 2, got {depth}")
        if norm not in UNET_NORMS:
            raise ValueError(f"norm must be one of {', '.join(UNET_NORMS)}, got {norm!r}")
        if padding not in UNET_PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(UNET_PADDINGS)}, got {padding!r}")
        self.depth = depth
        eps = norm_eps or (INSTANCE_NORM_EPS if norm == "instance" else BATCH_NORM_EPS)
        padding_mode: Literal["zeros", "reflect"] = "reflect" if padding == "reflect" else "zeros"
        inner = level_channels(base_channels, depth, max_multiplier)
        outer = [out_channels, *inner[:-1]]
        inputs = [in_channels, *inner[:-1]]
        innermost = depth - 1
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        for level in range(depth):
            down: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            down.append(
                nn.Conv2d(
                    inputs[level], inner[level], 4, stride=2, padding=1, padding_mode=padding_mode
                )
            )
            if 0 < level < innermost:
                down.append(_norm(norm, inner[level], sample_statistics, eps))
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
                up.append(_norm(norm, outer[level], sample_statistics, eps))
            if max(0, innermost - 3) < level < innermost and dropout > 0:
                up.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*up))
        self.bottleneck = bottleneck if bottleneck is not None else nn.Identity()
        self.code_dim = code_dim
        if code_dim > 0:
            self.down_codes = nn.ModuleList(CodeModulation(code_dim, c) for c in inner)
            self.up_codes = nn.ModuleList(CodeModulation(code_dim, c) for c in outer[1:])
        if len(feature_channels) > depth:
            raise ValueError(f"feature_channels has {len(feature_channels)} levels, depth {depth}")
        self.feature_levels = tuple(lv for lv, c in enumerate(feature_channels) if c > 0)
        if self.feature_levels:
            self.feature_projections = nn.ModuleList(
                zero_init(nn.Conv2d(feature_channels[lv], inner[lv], 1))
                for lv in self.feature_levels
            )

    def forward(
        self,
        image: torch.Tensor,
        code: torch.Tensor | None = None,
        features: Sequence[torch.Tensor] = (),
    ) -> torch.Tensor:
        """Run the U-Net; see the class docstring for the contract."""
        if len(features) != len(self.feature_levels):
            raise ValueError(
                f"this U-Net takes {len(self.feature_levels)} feature maps, got {len(features)}"
            )
        if (code is not None) != (self.code_dim > 0):
            raise ValueError(
                f"this U-Net takes a code of {self.code_dim} values"
                if self.code_dim
                else "this U-Net takes no code"
            )
        height, width = image.shape[-2:]
        x = reflect_pad_to_multiple(image, 2**self.depth)
        skips = []
        for level, down in enumerate(self.downs):
            skips.append(x)
            x = down(x)
            if code is not None:
                x = self.down_codes[level](x, code)
            if level in self.feature_levels:
                index = self.feature_levels.index(level)
                x = x + self.feature_projections[index](features[index].to(x.dtype))
        x = self.bottleneck(x)
        for level in reversed(range(self.depth)):
            x = self.ups[level](x)
            if level > 0:
                if code is not None:
                    x = self.up_codes[level - 1](x, code)
                x = torch.cat([skips[level], x], dim=1)
        return x[..., :height, :width]


# Instance norm's epsilon: the default 1e-5 lets a uniform image blow up. Its float rounding
# (bilinear upsampling leaves ~1e-9) is divided by sqrt(eps) ~ 0.003 at every level; measured on
# a trained lite G, a uniform gray gave a result 96-165 Cb/Cr units from flat with 1e-5, 0.04
# with 1e-3. Any image with visible texture has a variance far above 1e-3's share.
INSTANCE_NORM_EPS = 1e-3
BATCH_NORM_EPS = 1e-5


_Layer = TypeVar("_Layer", nn.Conv2d, nn.Linear)


def zero_init(layer: _Layer) -> _Layer:
    """`layer` with weight and bias set to zero: a part that starts as "no change"."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _norm(kind: str, channels: int, sample_statistics: bool, eps: float) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True, eps=eps)
    if sample_statistics:
        return SampleStatisticsBatchNorm2d(channels, eps=eps)
    return nn.BatchNorm2d(channels, eps=eps)


class ResidualBlock(nn.Module):
    """`x + Conv3x3(ReLU(Conv3x3(x)))`, zero (or reflect) padding, optional ReLU after the sum.

    Used bias-free by IHN's detail branch (no activation after the sum, as in Xia & Wong's
    progressively residual learning) and by F (ReLU after the sum, supplementary Table 2).
    """

    def __init__(
        self,
        channels: int,
        *,
        bias: bool,
        activate_output: bool,
        padding_mode: Literal["zeros", "reflect"] = "zeros",
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            channels, channels, 3, padding=1, bias=bias, padding_mode=padding_mode
        )
        self.conv2 = nn.Conv2d(
            channels, channels, 3, padding=1, bias=bias, padding_mode=padding_mode
        )
        self.activate_output = activate_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> `(B, C, H, W)`."""
        # in place where autograd allows it (neither convolution's backward needs its output):
        # at full resolution each new tensor costs a pass over memory, on large scans ~20 %
        hidden = F.relu(self.conv1(x), inplace=True)
        out = self.conv2(hidden)
        out += x
        return F.relu(out, inplace=True) if self.activate_output else out
