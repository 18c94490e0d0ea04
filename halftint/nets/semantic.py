"""A frozen, ImageNet-pretrained semantic encoder for G: EfficientNet-Lite0's features.

Goes beyond the paper (the `paper` preset never uses it). G trained on a few hundred photos
learns little of *what* is in an image; features of a network trained on ImageNet-1k say it
(sky, skin, foliage) for free. EfficientNet-Lite0 (Tan & Le, 2019: EfficientNet without
squeeze-and-excitation, ReLU6 activations) is small (3.4 M parameters without its classifier
and head, about 7 GMAC per megapixel) and runs well on CPUs.

The layout here matches the usual PyTorch port's state-dict keys (`_conv_stem`, `_bn0`,
`_blocks.N._expand_conv` ...), so its weights load as they are (`train.pretrained` reads such
a file). Only the stem and the sixteen inverted-residual blocks are built: the features G takes are
those at strides 8, 16 and 32 (40, 112 and 320 channels). Convolutions pad as TensorFlow's
"same" (the weights were trained with it), batch norms run on their running statistics with
epsilon 1e-3, and the network is never trained (`train()` keeps it in eval mode).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, first stride, expansion, output channels) of the seven stages
_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_CHANNELS = 32
_BN_EPS = 1e-3
# the strides whose features G takes, and the block after which each is complete
SEMANTIC_STRIDES = (8, 16, 32)
SEMANTIC_CHANNELS = (40, 112, 320)
_TAP_BLOCKS = (4, 10, 15)
# how the ImageNet weights expect their input: RGB in [0, 1], normalized per channel
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class _SameConv2d(nn.Conv2d):
    """A bias-free convolution padded as TensorFlow's "same": output = ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class _InvertedResidual(nn.Module):
    """MBConv without squeeze-and-excitation: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inputs * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv2d(inputs, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = _SameConv2d(
            hidden, hidden, kernel, stride=stride, groups=hidden, bias=False
        )
        self._bn1 = _bn(hidden)
        self._project_conv = _SameConv2d(hidden, outputs, 1, bias=False)
        self._bn2 = _bn(outputs)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return x + out if self.residual else out


class SemanticEncoder(nn.Module):
    """EfficientNet-Lite0's stem and blocks, frozen, as a feature extractor of gray images.

    Contract: `(B, 1, H, W)` in [0, 1] in (repeated to RGB and normalized as ImageNet images
    were); returns three maps, `(B, 40, ceil(H/8), ceil(W/8))`, `(B, 112, ceil(H/16), ...)` and
    `(B, 320, ceil(H/32), ...)`. Dtype and device follow the module's weights; no gradients.
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv2d(3, _STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(_STEM_CHANNELS)
        blocks: list[nn.Module] = []
        channels = _STEM_CHANNELS
        for repeats, kernel, stride, expand, outputs in _STAGES:
            for index in range(repeats):
                blocks.append(
                    _InvertedResidual(
                        channels, outputs, kernel, stride if index == 0 else 1, expand
                    )
                )
                channels = outputs
        self._blocks = nn.ModuleList(blocks)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer(
            "mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> SemanticEncoder:
        # frozen: its batch norms always use the ImageNet running statistics
        del mode
        return super().train(False)

    def forward(self, gray: torch.Tensor) -> list[torch.Tensor]:
        """`(B, 1, H, W)` in [0, 1] -> features at strides 8, 16, 32 (see the class docstring)."""
        with torch.no_grad():
            x = (gray.to(self.mean.dtype).expand(-1, 3, -1, -1) - self.mean) / self.std
            x = F.relu6(self._bn0(self._conv_stem(x)))
            features = []
            for index, block in enumerate(self._blocks):
                x = block(x)
                if index in _TAP_BLOCKS:
                    features.append(x)
        return features
