"""Each training stage: what it trains changes, what it uses stays, losses are finite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_WORKING_SIZE, tiny_preset
from torch import nn
from torch.utils.data import default_collate

from halftint.data import PhotoSamples, SampleMaker
from halftint.errors import UsageError
from halftint.losses import PSNR_CAP
from halftint.nets import build_networks
from halftint.train.config import STAGES, TrainConfig, apply, resolve
from halftint.train.ihn_stage import IHNStage
from halftint.train.perceptual import VGGFeatures, vgg16_head
from halftint.train.registry import NETWORK_SOURCES, STAGE_CLASSES
from halftint.train.stage import Hardware, Stage


def _config(**settings: object) -> TrainConfig:
    return resolve(apply(TrainConfig(), dict(settings), "test"), working_size=TINY_WORKING_SIZE)


def _photos(count: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    photos = []
    for index in range(count):
        y, x = np.mgrid[0:48, 0:64] / 64.0
        phase = rng.uniform(0, 6, 3)
        image = np.stack(
            [np.sin(6 * x + phase[0]), np.cos(5 * y + phase[1]), np.sin(4 * (x - y) + index)], -1
        )
        photos.append(((0.5 + 0.45 * image) * 255).astype(np.uint8))
    return photos


def _batch(stage: type[Stage], config: TrainConfig, first: int = 0) -> dict[str, torch.Tensor]:
    maker = SampleMaker(
        config.crop_size, config.rescale, config.halftone, config.reference, stage.fields
    )
    samples = PhotoSamples(_photos(), maker, seed=0, stream=0)
    return default_collate([samples[number] for number in range(first, first + 4)])


def _stage(name: str, config: TrainConfig) -> Stage:
    stage_class = STAGE_CLASSES[name]
    torch.manual_seed(0)
    networks = build_networks(
        tiny_preset(), (*stage_class.trained, *stage_class.needed_frozen(config))
    )
    return stage_class(networks, config, Hardware())


def _snapshot(stage: Stage) -> dict[str, dict[str, torch.Tensor]]:
    return {
        key: {name: value.detach().clone() for name, value in network.state_dict().items()}
        for key, network in stage.networks.items()
    }


@pytest.mark.parametrize("name", ["ihn", "hist", "colorizer", "fusion"])
def test_two_steps_change_every_trained_parameter_and_no_frozen_one(name: str) -> None:
    config = _config()
    stage = _stage(name, config)
    before = _snapshot(stage)
    stage_class = type(stage)
    for first in (0, 4):
        losses = stage.train_step(_batch(stage_class, config, first))
        assert losses and all(math.isfinite(value) for value in losses.values()), losses
    after = _snapshot(stage)
    for key in stage_class.trained:
        parameters = dict(stage.networks[key].named_parameters())
        unchanged = [n for n in parameters if torch.equal(before[key][n], after[key][n])]
        assert not unchanged, f"{name}: parameters of {key} did not change: {unchanged}"
    for key in stage_class.needed_frozen(config):
        changed = [n for n, value in before[key].items() if not torch.equal(value, after[key][n])]
        assert not changed, f"{name}: frozen {key} changed: {changed}"
        assert not any(p.requires_grad for p in stage.networks[key].parameters())


def test_colorizer_logs_every_loss_term() -> None:
    config = _config()
    stage = _stage("colorizer", config)
    losses = stage.train_step(_batch(type(stage), config))
    assert set(losses) == {
        "reconstruction",
        "kl",
        "gan",
        "latent",
        "mode_seeking",
        "similarity",
        "histogram",
        "discriminator",
        "total",
    }


def test_colorizer_asks_random_codes_for_one_color_on_even_crops_only() -> None:
    config = _config(losses={"even_random": 1.0})
    stage = _stage("colorizer", config)
    fields = type(stage).fields
    assert "smooth" in fields

    def batch(share: float) -> dict[str, torch.Tensor]:
        maker = SampleMaker(
            config.crop_size, config.rescale, config.halftone, config.reference, fields,
            smooth=share,
        )  # fmt: skip
        samples = PhotoSamples(_photos(), maker, seed=0, stream=0)
        return default_collate([samples[number] for number in range(4)])

    even = stage.train_step(batch(1.0))
    assert even["even_random"] > 0.0  # fresh random codes paint the even crops unevenly
    assert stage.train_step(batch(0.0))["even_random"] == 0.0  # photos are not asked
    assert "even_random" not in _stage("colorizer", _config()).train_step(batch(1.0))


def test_colorizer_asks_random_codes_to_keep_the_targets_luma() -> None:
    config = _config(losses={"random_luma": 1.0})
    stage = _stage("colorizer", config)
    batch = _batch(type(stage), config)
    generator = stage.networks["generator"]
    # a G that gives every random code the target itself keeps its luma exactly
    original = generator.forward
    generator.forward = lambda gray, edges, z: batch["target"].repeat(  # type: ignore[method-assign]
        z.shape[0] // batch["target"].shape[0], 1, 1, 1
    )
    try:
        assert stage.train_step(batch)["random_luma"] == pytest.approx(0.0, abs=1e-6)
    finally:
        generator.forward = original  # type: ignore[method-assign]
    fresh = stage.train_step(batch)["random_luma"]
    assert fresh > 0.01  # fresh weights paint brightness of their own
    assert "random_luma" not in _stage("colorizer", _config()).train_step(batch)


def test_each_stage_has_its_class_and_each_network_the_stage_that_trains_it() -> None:
    assert tuple(STAGE_CLASSES) == STAGES
    assert all(STAGE_CLASSES[name].name == name for name in STAGES)
    assert NETWORK_SOURCES == {
        "ihn": "ihn",
        "histogram": "hist",
        "encoder": "colorizer",
        "generator": "colorizer",
        "discriminator": "colorizer",
        "fusion": "fusion",
    }


def test_colorizer_without_histogram_loss_needs_no_histogram_estimator() -> None:
    config = _config(losses={"histogram": 0.0})
    assert STAGE_CLASSES["colorizer"].needed_frozen(config) == ("ihn",)
    stage = _stage("colorizer", config)
    assert "histogram" not in stage.networks
    assert "histogram" not in stage.train_step(_batch(type(stage), config))


def test_a_stage_without_its_frozen_networks_is_refused() -> None:
    config = _config()
    networks = build_networks(tiny_preset(), ["fusion"])
    with pytest.raises(ValueError, match="needs the networks ihn, encoder, generator"):
        STAGE_CLASSES["fusion"](networks, config, Hardware())


@pytest.mark.parametrize("name", ["ihn", "hist", "colorizer", "fusion"])
def test_preview_gives_same_sized_columns_and_finite_metrics(name: str) -> None:
    config = _config()
    stage = _stage(name, config)
    preview = stage.preview(_batch(type(stage), config))
    for title, images in preview.columns.items():
        assert images.shape[0] == 4 and images.shape[1] in (1, 3), title
        assert images.shape[-2:] == (TINY_WORKING_SIZE, TINY_WORKING_SIZE), title
        assert images.min() >= 0 and images.max() <= 1, title
    assert preview.metrics and all(math.isfinite(value) for value in preview.metrics.values())
    # the preview leaves the trained networks in train mode
    assert all(stage.networks[key].training for key in type(stage).trained)


def test_a_perfect_preview_logs_the_capped_psnr_valid_as_json() -> None:
    config = _config()
    stage = _stage("ihn", config)
    batch = _batch(type(stage), config)

    class Perfect(nn.Module):
        def forward(self, halftone: torch.Tensor) -> torch.Tensor:
            return batch["gray"].clone()

    stage.networks["ihn"] = Perfect()
    metrics = stage.preview(batch).metrics
    assert metrics["psnr"] == PSNR_CAP and metrics["l1"] == 0.0
    json.dumps(metrics, allow_nan=False)  # metrics.jsonl and bundle.json hold these


@pytest.mark.slow
def test_ihn_overfits_four_images() -> None:
    config = _config(ihn={"lr": 1e-3})
    stage = _stage("ihn", config)
    batch = _batch(type(stage), config)
    torch.manual_seed(1)
    first = stage.train_step(batch)["output_l1"]
    for _ in range(150):
        last = stage.train_step(batch)["output_l1"]
    assert last < first / 2, (first, last)


def _vgg_file(path: Path) -> Path:
    """A VGG16 weights file as torchvision lays it out, randomly initialised."""
    torch.manual_seed(2)
    state = {f"features.{key}": value for key, value in vgg16_head().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # other keys of a full file are ignored
    torch.save(state, path)
    return path


def test_ihn_with_a_perceptual_term_trains_ihn_only(tmp_path: Path) -> None:
    weights = _vgg_file(tmp_path / "vgg16.pth")
    config = _config(losses={"ihn_perceptual": 0.1}, perceptual_weights=str(weights))
    stage = _stage("ihn", config)
    assert isinstance(stage, IHNStage) and stage.perceptual is not None
    vgg_before = {k: v.clone() for k, v in stage.perceptual.state_dict().items()}
    ihn_before = {k: v.clone() for k, v in stage.networks["ihn"].state_dict().items()}
    losses = stage.train_step(_batch(type(stage), config))
    assert math.isfinite(losses["perceptual"]) and losses["perceptual"] > 0
    assert all(torch.equal(v, stage.perceptual.state_dict()[k]) for k, v in vgg_before.items())
    assert not torch.equal(
        ihn_before["detail.project.weight"],
        stage.networks["ihn"].state_dict()["detail.project.weight"],
    )


def test_perceptual_weights_must_be_a_vgg16_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="0 unless perceptual_weights names"):
        _config(losses={"ihn_perceptual": 1.0})
    with pytest.raises(UsageError, match="perceptual_weights file not found"):
        VGGFeatures(tmp_path / "none.pth")
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, other)
    with pytest.raises(UsageError, match="does not hold torchvision VGG16 weights"):
        VGGFeatures(other)
