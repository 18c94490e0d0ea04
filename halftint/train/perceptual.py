"""An optional perceptual loss for IHN: distance between VGG16 features of output and truth.

Xia & Wong add a perceptual term to the descreening losses. halftint never downloads weights, so
the term is used only when a local copy of torchvision's ImageNet VGG16 weights is configured
(`perceptual_weights`, e.g. the `vgg16-397923af.pth` torchvision caches); the features are
taken up to relu3_3, frozen.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from halftint.errors import UsageError

# VGG16's first three blocks (conv1_1 ... relu3_3): output channels of each 3x3 convolution,
# "pool" for a 2x2 max-pool; laid out as torchvision's `features` so its weight keys match
_BLOCKS: tuple[int | str, ...] = (64, 64, "pool", 128, 128, "pool", 256, 256, 256)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen VGG16 features (to relu3_3) of gray images.

    Contract: `(B, 1, H, W)` in [0, 1] in, `(B, 256, H / 4, W / 4)` features out; the gray image
    is repeated to RGB and normalized as ImageNet images were.
    """

    def __init__(self, weights: str | Path) -> None:
        super().__init__()
        self.layers = vgg16_head()
        self.layers.load_state_dict(_feature_weights(Path(weights), self.layers))
        self.layers.eval().requires_grad_(False)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> VGGFeatures:
        # always in eval mode: a loss network, never trained
        del mode
        return super().train(False)

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        rgb = gray.expand(-1, 3, -1, -1)
        output: torch.Tensor = self.layers((rgb - self.mean) / self.std)
        return output


def perceptual_distance(
    features: VGGFeatures, output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Mean squared distance between the VGG features of `output` and `target` (scalar)."""
    return F.mse_loss(features(output), features(target.detach()))


def vgg16_head() -> nn.Sequential:
    """VGG16's `features` up to relu3_3, freshly initialised (torchvision's layer indices)."""
    layers: list[nn.Module] = []
    channels = 3
    for block in _BLOCKS:
        if block == "pool":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(block), 3, padding=1), nn.ReLU()]
            channels = int(block)
    return nn.Sequential(*layers)


def _feature_weights(path: Path, layers: nn.Sequential) -> dict[str, torch.Tensor]:
    """The weights of `layers` from a torchvision VGG16 state dict file (`features.N.*` keys).

    Raises:
        UsageError: the file is missing, unreadable, or holds no VGG16 feature weights.
    """
    if not path.is_file():
        raise UsageError(f"perceptual_weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file it cannot read
        raise UsageError(f"cannot read perceptual_weights {path}: {error}") from None
    expected = layers.state_dict()
    items = state.items() if isinstance(state, dict) else ()
    found = {key.removeprefix("features."): value for key, value in items}
    wanted = {key: found[key] for key in expected if key in found}
    if len(wanted) != len(expected) or any(
        wanted[key].shape != expected[key].shape for key in expected
    ):
        raise UsageError(f"{path} does not hold torchvision VGG16 weights (features.0-14)")
    return wanted
