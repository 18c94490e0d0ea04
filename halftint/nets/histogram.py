"""H, the histogram estimator (supplementary §1.3 and Table 1): one channel -> 256-bin histogram.

H is pretrained to predict a color channel's normalised histogram, then frozen: the histogram
loss compares H's estimates for G's output and for the target. Unlike a hard histogram, H is
differentiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from halftint.nets.layers import check_image


@dataclass(frozen=True)
class HistogramConfig:
    """Widths of H; the defaults are the paper's (16,833,216 parameters).

    Attributes:
        input_size: the square size H takes (its linear layer is sized from it).
        channels: output channels of the stride-2 Conv3x3 + ReLU layers.
        bins: histogram bins.
    """

    input_size: int = 256
    channels: tuple[int, ...] = (32, 64, 64)
    bins: int = 256

    @property
    def feature_side(self) -> int:
        """Side of the last convolution's output (each stride-2 conv halves, rounding up)."""
        side = self.input_size
        for _ in self.channels:
            side = (side + 1) // 2
        return side


class HistogramEstimator(nn.Module):
    """H: one color channel in, a softmax histogram out.

    Contract: `channel` is `(B, 1, S, S)` in [0, 1] with S == `config.input_size` (a ValueError
    names the expected size otherwise); `forward` returns `(B, bins)` probabilities summing to 1,
    `logits` the values before the softmax. Dtype and device follow the input. Inside, the
    channel is mapped to [-1, 1].
    """

    def __init__(self, config: HistogramConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or HistogramConfig()
        layers: list[nn.Module] = []
        width = 1
        for out in config.channels:
            layers += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.ReLU()]
            width = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * config.feature_side**2, config.bins)

    def logits(self, channel: torch.Tensor) -> torch.Tensor:
        """`(B, 1, S, S)` in [0, 1] -> `(B, bins)` unnormalised log-probabilities."""
        check_image(channel, "channel", 1)
        size = self.config.input_size
        if channel.shape[-2:] != (size, size):
            raise ValueError(
                f"the histogram estimator takes {size}x{size} channels (its input_size), "
                f"got {channel.shape[-2]}x{channel.shape[-1]}"
            )
        return self.classifier(self.features(channel * 2 - 1).flatten(1))

    def forward(self, channel: torch.Tensor) -> torch.Tensor:
        """`(B, 1, S, S)` in [0, 1] -> `(B, bins)` softmax probabilities."""
        return self.logits(channel).softmax(dim=1)
