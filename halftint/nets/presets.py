"""Network presets: `paper` (the published sizes, exactly) and `lite` (narrow, CPU friendly).

A preset is the full set of network configs plus the working resolution the colorization part
runs at. `build_networks` turns a preset into freshly initialised modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from torch import nn

from halftint.nets.discriminator import Discriminator, DiscriminatorConfig
from halftint.nets.encoder import EncoderConfig, ReferenceEncoder
from halftint.nets.fusion import FusionConfig, FusionNet
from halftint.nets.generator import ColorizationNet, GeneratorConfig
from halftint.nets.histogram import HistogramConfig, HistogramEstimator
from halftint.nets.ihn import IHNConfig, InverseHalftoneNet

# network key -> (config class, module class); the keys name the folders of a weights bundle
NETWORK_CLASSES: dict[str, tuple[type, type[nn.Module]]] = {
    "ihn": (IHNConfig, InverseHalftoneNet),
    "encoder": (EncoderConfig, ReferenceEncoder),
    "generator": (GeneratorConfig, ColorizationNet),
    "discriminator": (DiscriminatorConfig, Discriminator),
    "histogram": (HistogramConfig, HistogramEstimator),
    "fusion": (FusionConfig, FusionNet),
}


@dataclass(frozen=True)
class Preset:
    """A named set of network configs and the working resolution of the colorization part.

    Attributes:
        name: the preset's name.
        working_size: the side the colorization part (E, G, D, H, F) is trained and run at.
        ihn, encoder, generator, discriminator, histogram, fusion: the network configs.
    """

    name: str
    working_size: int
    ihn: IHNConfig = field(default_factory=IHNConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    histogram: HistogramConfig = field(default_factory=HistogramConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def config(self, network: str) -> object:
        """The config of one network, by its key in NETWORK_CLASSES."""
        if network not in NETWORK_CLASSES:
            raise ValueError(f"unknown network {network!r}; valid: {', '.join(NETWORK_CLASSES)}")
        return getattr(self, network)


PAPER = Preset(name="paper", working_size=256)

# `lite`: the paper's colorization topology at about a quarter of its widths (base 16 instead of
# 64), trained and run at 128x128 with one U-Net level less, so that the U-Net bottom is 2x2 as in
# the paper at 256x256; F is 8 channels wide. IHN, which runs at full resolution, is the `shuffle`
# topology (a residual over a Gaussian low-pass, learned at half resolution), chosen over narrow
# copies of the paper's U-Net by pilots at equal CPU time (weights.md): 48 channels, 12 residual
# blocks, about 125 GMAC per megapixel. F corrects the forward cascade's image instead of
# predicting it (`FusionConfig.residual`): trained the paper's way, the narrow F was worse than
# either cascade alone. E adds the reference's chroma statistics to its code
# (`EncoderConfig.color_statistics`): with instance norm after every convolution it was nearly
# blind to global color, and a pilot with the statistics followed references better (weights.md).
# G's instance norm has an epsilon of 1: with 1e-3 every level blew the faint structure of a
# nearly even image (the last gray level of a descreened print, float rounding) up to unit size,
# and G painted it as colored bands and blobs; at 1 a level's features are normalized only where
# they vary more than that (a 20-minute pilot: bands a third of 1e-3's, fewer than 0.1's;
# weights.md).
LITE = Preset(
    name="lite",
    working_size=128,
    ihn=IHNConfig(
        topology="shuffle",
        shuffle_factor=2,
        shuffle_width=48,
        shuffle_blocks=12,
        base_sigma=1.2,
        use_noise=False,
    ),
    encoder=EncoderConfig(input_size=128, base_channels=16, pool_size=8, color_statistics=True),
    generator=GeneratorConfig(
        base_channels=16,
        depth=6,
        code="modulate",
        norm="instance",
        padding="reflect",
        norm_eps=1.0,
    ),
    discriminator=DiscriminatorConfig(base_channels=16),
    histogram=HistogramConfig(input_size=128, channels=(16, 32, 32)),
    fusion=FusionConfig(channels=8, padding="reflect", residual=True),
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (PAPER, LITE)}


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError listing the valid names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}") from None


def build_networks(preset: Preset, names: Iterable[str] | None = None) -> dict[str, nn.Module]:
    """Freshly initialised networks of `preset`, keyed "ihn", "encoder", ... (all when None).

    Build under `with torch.device("meta"):` to count parameters without allocating them.
    """
    wanted = list(NETWORK_CLASSES) if names is None else list(names)
    networks: dict[str, nn.Module] = {}
    for name in wanted:
        config = preset.config(name)
        networks[name] = NETWORK_CLASSES[name][1](config)
    return networks
