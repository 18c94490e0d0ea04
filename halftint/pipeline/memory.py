"""How much memory IHN needs per input pixel, from its config alone (nothing is run).

At full resolution IHN holds a few wide activations at once: the outermost U-Net level's
upsampled input (2 x base_channels, concatenated skip and up path) and the detail branch's
widest layer (detail_expand). Everything below the outermost level is at a quarter of the pixels
or fewer. Peak memory is a small multiple of the widest full-resolution activation; measured
peak RSS growth in float32 without gradients (CPU, one thread):

- paper IHN (widest 256 channels = 1024 B/px): 3,249 B/px at 512x512,
- lite IHN (widest 32 channels = 128 B/px): 471 B/px at 1024x1024,

so 4x the widest activation is the estimate (4,096 and 512 B/px). The `shuffle` topology holds
its residual blocks' activations at 1/factor² of the pixels: `shuffle_width / factor²` channels
per input pixel, beside a few full-resolution single-channel maps.
"""

from __future__ import annotations

from halftint.nets.ihn import IHNConfig

PEAK_OVER_WIDEST = 4
FLOAT32_BYTES = 4


def ihn_bytes_per_pixel(config: IHNConfig) -> int:
    """Estimated peak bytes per input pixel of an IHN with `config`, float32, no gradients."""
    if config.topology == "shuffle":
        folded = -(-config.shuffle_width // (config.shuffle_factor**2))
        return PEAK_OVER_WIDEST * FLOAT32_BYTES * max(4, folded)
    widest = max(
        1 + config.noise_channels,
        2 * config.base_channels,
        config.detail_channels,
        config.detail_expand,
    )
    return PEAK_OVER_WIDEST * FLOAT32_BYTES * widest
