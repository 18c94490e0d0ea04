"""G, the colorization network (supplementary §1.2, BicycleGAN's U-Net, "add to input").

G colors a gray image (IHN's output, or the raw halftone in the reverse cascade) given a color
code `z` and the image's Canny edge map. In the paper `z` is tiled over the image and
concatenated to the input only (`code="input"`); `code="modulate"` instead scales and shifts
every U-Net level's features by linear maps of `z` (FiLM), which the lite preset uses: measured
(`benchmarks/colorizer_diagnosis.py`), a code at the input changes the output's chroma 4.6x less
at inference, where each sample is normalized by its own statistics, than in training, and acts
most at the zero-padded borders. `semantic="efficientnet-lite0"` adds a frozen ImageNet encoder
whose features of the gray image enter the U-Net at strides 8, 16 and 32 (`semantic.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from halftint.nets.layers import UNet, check_image, reflect_pad_to_multiple
from halftint.nets.semantic import SEMANTIC_CHANNELS, SEMANTIC_STRIDES, SemanticEncoder

GENERATOR_CODES = ("input", "modulate")
GENERATOR_SEMANTICS = ("none", "efficientnet-lite0")


@dataclass(frozen=True)
class GeneratorConfig:
    """Widths of G; the defaults are the paper's (30,254,467 parameters).

    Attributes:
        base_channels: channels of the U-Net's outermost level (doubling per level).
        depth: U-Net levels; inputs are padded to a multiple of 2**depth.
        max_multiplier: the widest level has base_channels * max_multiplier channels.
        dropout: dropout rate in the two levels above the innermost.
        z_dim: size of the color code.
        sample_statistics: at inference, BatchNorm uses each sample's own statistics instead
            of the running averages (as pix2pix/BicycleGAN generators are run at test time; G
            sees two kinds of input in training, so no single running average fits).
        code: how `z` enters: "input" (tiled, concatenated to the input) or "modulate" (FiLM
            of every level, see `layers.CodeModulation`).
        norm: the U-Net's normalization, "batch" or "instance" (the same statistics in
            training and at inference).
        padding: the U-Net's down convolutions' border rule, "zeros" or "reflect".
        norm_eps: the normalization's epsilon; 0 means the norm's default (`layers.UNet`). A
            larger one keeps a feature's normalized amplitude small where the input is nearly
            flat, instead of blowing texture up into colored blobs (see weights.md).
        semantic: "none", or "efficientnet-lite0": frozen ImageNet features of the gray image
            added to the U-Net's levels at strides 8, 16 and 32 (needs depth >= 5); the
            encoder's weights are part of G's.
    """

    base_channels: int = 64
    depth: int = 7
    max_multiplier: int = 8
    dropout: float = 0.5
    z_dim: int = 8
    sample_statistics: bool = True
    code: str = "input"
    norm: str = "batch"
    padding: str = "zeros"
    norm_eps: float = 0.0
    semantic: str = "none"

    def __post_init__(self) -> None:
        if self.code not in GENERATOR_CODES:
            raise ValueError(f"code must be one of {', '.join(GENERATOR_CODES)}, got {self.code!r}")
        if self.semantic not in GENERATOR_SEMANTICS:
            raise ValueError(
                f"semantic must be one of {', '.join(GENERATOR_SEMANTICS)}, got {self.semantic!r}"
            )
        if self.norm_eps < 0:
            raise ValueError(f"norm_eps must be >= 0, got {self.norm_eps}")
        if self.semantic != "none" and self.depth < 5:
            raise ValueError(f"semantic features need depth >= 5, got {self.depth}")


class ColorizationNet(nn.Module):
    """G: gray image + edge map + color code in, RGB image out.

    Contract: `gray` and `edges` are `(B, 1, H, W)` in [0, 1] (edges in {0, 1}), any H and W;
    `z` is `(B, z_dim)`; returns `(B, 3, H, W)` RGB in [0, 1]. Dtype and device follow `gray`.
    Inside, gray and edges are mapped to [-1, 1] and the U-Net's tanh output back to [0, 1];
    the input channels are (gray, z tiled over H x W, edges), in that order, or (gray, edges)
    when `z` modulates the levels instead.
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        modulate = self.config.code == "modulate"
        feature_channels: tuple[int, ...] = ()
        self.semantic: SemanticEncoder | None = None
        if self.config.semantic != "none":
            self.semantic = SemanticEncoder()
            # U-Net level i's down output is at stride 2 ** (i + 1)
            levels = {
                int(math.log2(stride)) - 1: c
                for stride, c in zip(SEMANTIC_STRIDES, SEMANTIC_CHANNELS, strict=True)
            }
            feature_channels = tuple(levels.get(level, 0) for level in range(max(levels) + 1))
        self.unet = UNet(
            2 if modulate else 1 + self.config.z_dim + 1,
            3,
            base_channels=self.config.base_channels,
            depth=self.config.depth,
            max_multiplier=self.config.max_multiplier,
            dropout=self.config.dropout,
            sample_statistics=self.config.sample_statistics,
            norm=self.config.norm,
            padding=self.config.padding,
            code_dim=self.config.z_dim if modulate else 0,
            feature_channels=feature_channels,
            norm_eps=self.config.norm_eps,
        )

    def forward(self, gray: torch.Tensor, edges: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """`(B, 1, H, W)`, `(B, 1, H, W)`, `(B, z_dim)` -> `(B, 3, H, W)` in [0, 1]."""
        check_image(gray, "gray", 1)
        if edges.shape != gray.shape:
            raise ValueError(
                f"edges must have the shape of gray {tuple(gray.shape)}, got {tuple(edges.shape)}"
            )
        batch, _, height, width = gray.shape
        if z.shape != (batch, self.config.z_dim):
            raise ValueError(
                f"z must have shape ({batch}, {self.config.z_dim}), got {tuple(z.shape)}"
            )
        features: list[torch.Tensor] = []
        if self.semantic is not None:
            # the U-Net pads its input so; features of the same padded image fit its levels
            features = self.semantic(reflect_pad_to_multiple(gray, 2**self.config.depth))
        gray_in, edges_in = gray * 2 - 1, edges.to(gray.dtype) * 2 - 1
        if self.config.code == "modulate":
            inputs = torch.cat([gray_in, edges_in], dim=1)
            return (self.unet(inputs, z.to(gray.dtype), features) + 1) / 2
        tiled = z.to(gray.dtype).view(batch, -1, 1, 1).expand(-1, -1, height, width)
        return (self.unet(torch.cat([gray_in, tiled, edges_in], dim=1), None, features) + 1) / 2
