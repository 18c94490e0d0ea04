"""The six networks of inverse halftone colorization, as pure torch.nn modules.

Paper letter -> class: IHN -> InverseHalftoneNet, E -> ReferenceEncoder, G -> ColorizationNet,
D -> Discriminator, H -> HistogramEstimator, F -> FusionNet. Each takes a frozen dataclass
config; `presets` holds the `paper` and `lite` sets of configs.
"""

from halftint.nets.discriminator import Discriminator, DiscriminatorConfig
from halftint.nets.encoder import EncoderConfig, ReferenceEncoder
from halftint.nets.fusion import FusionConfig, FusionNet
from halftint.nets.generator import ColorizationNet, GeneratorConfig
from halftint.nets.histogram import HistogramConfig, HistogramEstimator
from halftint.nets.ihn import IHNConfig, InverseHalftoneNet
from halftint.nets.presets import NETWORK_CLASSES, PRESETS, Preset, build_networks, get_preset

__all__ = [
    "NETWORK_CLASSES",
    "PRESETS",
    "ColorizationNet",
    "Discriminator",
    "DiscriminatorConfig",
    "EncoderConfig",
    "FusionConfig",
    "FusionNet",
    "GeneratorConfig",
    "HistogramConfig",
    "HistogramEstimator",
    "IHNConfig",
    "InverseHalftoneNet",
    "Preset",
    "ReferenceEncoder",
    "build_networks",
    "get_preset",
]
