"""IHN, the inverse halftone network (supplementary §1.1): halftone -> gray image.

Two topologies, chosen by `IHNConfig.topology`.

`unet` (the paper's, and the `paper` preset's) has two parts, summed:
- content aggregation: a U-Net (the one of G) fed the halftone and an 8-channel noise map, whose
  bottleneck is a DenseNet block plus a transition layer;
- detail enhancement: the residual branch of Xia & Wong's "Deep inverse halftoning via
  progressively residual learning" (ACCV 2018), fed the content map and the halftone.

`shuffle` (beyond the paper; chosen for the `lite` preset by the pilots in weights.md) predicts a
residual over a fixed Gaussian low-pass of the halftone: the halftone is folded into
`shuffle_factor`² channels at a fraction of the resolution (pixel-unshuffle), passed through plain
residual blocks there, and unfolded back (pixel-shuffle). Working at low resolution makes every
convolution cheap and the receptive field wide (a screen period of 12 px spans a few pixels), and
the low-pass base keeps the tone right from the first step, so training spends itself on detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from halftint.nets.layers import ResidualBlock, UNet, check_image, level_channels

# Eval-mode noise comes from a generator seeded with this, so inference is deterministic.
EVAL_NOISE_SEED = 0

# The authors blur Gaussian noise with this (unnormalised) kernel, summed over 8 channels.
_NOISE_KERNEL = ((1.0, 2.0, 1.0), (2.0, 4.0, 2.0), (1.0, 2.0, 1.0))


@dataclass(frozen=True)
class IHNConfig:
    """Widths of IHN; the defaults are the paper's (41,095,681 parameters).

    Attributes:
        base_channels: channels of the U-Net's outermost level (doubling per level).
        depth: U-Net levels; inputs are padded to a multiple of 2**depth.
        max_multiplier: the U-Net's widest level has base_channels * max_multiplier channels.
        dropout: dropout rate in the U-Net's two levels above the innermost and the dense block.
        dense_layers: bottleneck layers in the dense block.
        dense_growth: channels each dense layer adds.
        dense_bottleneck: width of each dense layer's 1x1 convolution.
        detail_channels: width of the detail branch's residual blocks.
        detail_blocks: number of residual blocks in the detail branch.
        detail_expand: width of the detail branch's last 3x3 convolution.
        noise_channels: channels of the noise map concatenated to the halftone.
        use_noise: when False the noise map is all zeros.
        topology: "unet" (the paper's two-part network; the fields above) or "shuffle" (a
            residual over a low-pass; the fields below, the others unused).
        shuffle_factor: pixel-unshuffle factor: the residual blocks run at 1/factor resolution.
        shuffle_width: channels of the residual blocks.
        shuffle_blocks: number of residual blocks.
        base_sigma: standard deviation (pixels) of the Gaussian low-pass the residual is added to.
    """

    base_channels: int = 64
    depth: int = 7
    max_multiplier: int = 8
    dropout: float = 0.5
    dense_layers: int = 3
    dense_growth: int = 256
    dense_bottleneck: int = 1024
    detail_channels: int = 64
    detail_blocks: int = 8
    detail_expand: int = 256
    noise_channels: int = 8
    use_noise: bool = True
    topology: str = "unet"
    shuffle_factor: int = 2
    shuffle_width: int = 32
    shuffle_blocks: int = 8
    base_sigma: float = 1.2

    def __post_init__(self) -> None:
        if self.topology not in TOPOLOGIES:
            valid = ", ".join(TOPOLOGIES)
            raise ValueError(f"unknown IHN topology {self.topology!r}; valid: {valid}")
        if self.shuffle_factor < 1 or self.shuffle_width < 1 or self.shuffle_blocks < 0:
            raise ValueError("shuffle_factor and shuffle_width must be >= 1, shuffle_blocks >= 0")
        if self.base_sigma <= 0:
            raise ValueError(f"base_sigma must be > 0, got {self.base_sigma}")


TOPOLOGIES = ("unet", "shuffle")


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1-Dropout-BN-ReLU-Conv3x3-Dropout, its output concatenated to its input."""

    def __init__(self, in_channels: int, bottleneck: int, growth: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, bottleneck, 1, bias=False),
            nn.Dropout(dropout),
            nn.BatchNorm2d(bottleneck),
            nn.ReLU(),
            nn.Conv2d(bottleneck, growth, 3, padding=1, bias=False),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, C, h, w)` -> `(B, C + growth, h, w)`."""
        return torch.cat([x, self.layers(x)], dim=1)


class DenseBottleneck(nn.Sequential):
    """DenseNet block plus a transition layer (BN-ReLU-Conv1x1-Dropout, no pooling).

    Keeps the channel count, so it drops into the U-Net between its innermost down and up.
    """

    def __init__(self, channels: int, config: IHNConfig) -> None:
        layers: list[nn.Module] = []
        width = channels
        for _ in range(config.dense_layers):
            layers.append(
                DenseLayer(width, config.dense_bottleneck, config.dense_growth, config.dropout)
            )
            width += config.dense_growth
        layers += [
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, channels, 1, bias=False),
            nn.Dropout(config.dropout),
        ]
        super().__init__(*layers)


class DetailBranch(nn.Module):
    """Detail enhancement: Conv3x3 -> residual blocks -> Conv3x3 -> Conv1x1, all bias-free.

    There are no activations between the stages, as in the progressively residual learning
    network the paper takes it from.
    """

    def __init__(self, config: IHNConfig) -> None:
        super().__init__()
        width = config.detail_channels
        self.head = nn.Conv2d(2, width, 3, padding=1, bias=False)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(width, bias=False, activate_output=False)
                for _ in range(config.detail_blocks)
            )
        )
        self.expand = nn.Conv2d(width, config.detail_expand, 3, padding=1, bias=False)
        self.project = nn.Conv2d(config.detail_expand, 1, 1, bias=False)

    def forward(self, content: torch.Tensor, halftone: torch.Tensor) -> torch.Tensor:
        """`(B, 1, H, W)` twice -> `(B, 1, H, W)` detail residual."""
        x = self.head(torch.cat([content, halftone], dim=1))
        return self.project(self.expand(self.blocks(x)))


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised `(1, 1, k, k)` Gaussian kernel, k = 2 * ceil(3 sigma) + 1."""
    radius = max(1, math.ceil(3.0 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    line = torch.exp(-(offsets**2) / (2.0 * sigma * sigma))
    line = line / line.sum()
    return (line[:, None] * line[None, :]).view(1, 1, 2 * radius + 1, 2 * radius + 1)


def _pad_mode(height: int, width: int, pad: int) -> str:
    # reflection needs more pixels than it pads; tiny images fall back to repeating the edge
    return "reflect" if min(height, width) > pad else "replicate"


class ShuffleResidual(nn.Module):
    """The `shuffle` topology: Gaussian low-pass + a residual learned at 1/factor resolution."""

    def __init__(self, config: IHNConfig) -> None:
        super().__init__()
        factor, width = config.shuffle_factor, config.shuffle_width
        self.factor = factor
        self.kernel: torch.Tensor
        self.register_buffer("kernel", gaussian_kernel(config.base_sigma), persistent=False)
        self.head = nn.Conv2d(factor * factor, width, 3, padding=1)
        self.blocks = nn.Sequential(
            *(
                ResidualBlock(width, bias=True, activate_output=False)
                for _ in range(config.shuffle_blocks)
            )
        )
        self.tail = nn.Conv2d(width, factor * factor, 3, padding=1)
        # start as the plain low-pass: the residual is zero until training moves it
        nn.init.zeros_(self.tail.weight)
        assert self.tail.bias is not None
        nn.init.zeros_(self.tail.bias)

    def low_pass(self, halftone: torch.Tensor) -> torch.Tensor:
        """The Gaussian base, `(B, 1, H, W)`, with mirrored borders."""
        kernel = self.kernel.to(dtype=halftone.dtype)
        pad = int(kernel.shape[-1]) // 2
        height, width = halftone.shape[-2:]
        padded = F.pad(halftone, (pad, pad, pad, pad), mode=_pad_mode(height, width, pad))
        return F.conv2d(padded, kernel)

    def forward(self, halftone: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, 1, H, W)` in [0, 1] -> `(low-pass base, gray)`, both `(B, 1, H, W)`."""
        height, width = halftone.shape[-2:]
        factor = self.factor
        base = self.low_pass(halftone)
        bottom, right = -height % factor, -width % factor
        x = halftone * 2 - 1
        if bottom or right:
            x = F.pad(x, (0, right, 0, bottom), mode=_pad_mode(height, width, max(bottom, right)))
        x = self.blocks(self.head(F.pixel_unshuffle(x, factor)))
        residual = F.pixel_shuffle(self.tail(x), factor)[..., :height, :width]
        return base, base + residual


class InverseHalftoneNet(nn.Module):
    """IHN: a halftone in, a continuous-tone gray image out (supplementary §1.1).

    Contract: `halftone` is `(B, 1, H, W)` in [0, 1] (0 ink, 1 paper), any H and W; the output
    is `(B, 1, H, W)`, nominally in [0, 1] but not clamped (content + detail, as the authors'
    network has no final activation). Dtype and device follow the input.

    Internally the halftone is mapped to [-1, 1] for the U-Net, whose tanh output is mapped
    back to [0, 1] to give the content map; the detail branch works in [0, 1].
    """

    def __init__(self, config: IHNConfig | None = None) -> None:
        super().__init__()
        self.config = config or IHNConfig()
        if self.config.topology == "shuffle":
            self.shuffle = ShuffleResidual(self.config)
            return
        innermost = level_channels(
            self.config.base_channels, self.config.depth, self.config.max_multiplier
        )[-1]
        self.content = UNet(
            1 + self.config.noise_channels,
            1,
            base_channels=self.config.base_channels,
            depth=self.config.depth,
            max_multiplier=self.config.max_multiplier,
            dropout=self.config.dropout,
            bottleneck=DenseBottleneck(innermost, self.config),
        )
        self.detail = DetailBranch(self.config)

    @property
    def alignment(self) -> int:
        """Tile origins and sizes are multiples of this: the U-Net's 2**depth, or the shuffle
        factor (any input size works; aligned tiles compute exactly what the whole image would)."""
        if self.config.topology == "shuffle":
            return self.config.shuffle_factor
        return int(2**self.config.depth)

    def make_noise(
        self,
        batch: int,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Draw the noise map the content branch takes: `(batch, noise_channels, height, width)`.

        The authors blur 8 channels of unit Gaussian noise with the kernel
        [[1,2,1],[2,4,2],[1,2,1]] summed over all input channels, so all output channels are
        equal with a std of about 17. A sum of 8 unit Gaussians is one Gaussian of std sqrt(8),
        so one channel is drawn, blurred and repeated: the same distribution, 8x cheaper.

        Args:
            batch, height, width: the size of the map.
            generator: the random source (on its own device); the global RNG when None.
            device, dtype: where the result goes (default: CPU, float32).
        """
        noise_device = generator.device if generator is not None else device
        noise = torch.randn(
            batch, 1, height, width, generator=generator, device=noise_device
        ) * math.sqrt(self.config.noise_channels)
        kernel = torch.tensor(_NOISE_KERNEL, device=noise.device).view(1, 1, 3, 3)
        blurred = F.conv2d(noise, kernel, padding=1)
        return blurred.expand(-1, self.config.noise_channels, -1, -1).to(
            device=device if device is not None else blurred.device, dtype=dtype
        )

    def _noise_for(self, halftone: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        batch, _, height, width = halftone.shape
        if not self.config.use_noise:
            return halftone.new_zeros(batch, self.config.noise_channels, height, width)
        if noise is None:
            generator = None
            if not self.training:
                generator = torch.Generator().manual_seed(EVAL_NOISE_SEED)
            return self.make_noise(
                batch,
                height,
                width,
                generator=generator,
                device=halftone.device,
                dtype=halftone.dtype,
            )
        expected = (batch, self.config.noise_channels, height, width)
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected}, got {tuple(noise.shape)}")
        return noise.to(dtype=halftone.dtype)

    def forward_parts(
        self, halftone: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return `(content, gray)`, both `(B, 1, H, W)`; training supervises both.

        With the `shuffle` topology, `content` is the fixed low-pass base (nothing to train) and
        no noise map is used.

        Args:
            halftone: `(B, 1, H, W)` in [0, 1].
            noise: `(B, noise_channels, H, W)` from `make_noise`; when None it is drawn from the
                global RNG in train mode and from a fixed-seed generator in eval mode. Ignored
                (zeros) when `config.use_noise` is False.
        """
        check_image(halftone, "halftone", 1)
        if self.config.topology == "shuffle":
            return self.shuffle(halftone)
        noise_map = self._noise_for(halftone, noise)
        unet_out = self.content(torch.cat([halftone * 2 - 1, noise_map], dim=1))
        content = (unet_out + 1) / 2
        gray = content + self.detail(content, halftone)
        return content, gray

    def forward(self, halftone: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Descreen: `(B, 1, H, W)` halftone in [0, 1] -> `(B, 1, H, W)` gray (not clamped)."""
        return self.forward_parts(halftone, noise)[1]
