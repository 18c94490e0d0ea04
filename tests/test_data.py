"""Training data: photo discovery, the hashed split, the cache, samples and the batch stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from halftint.data import (
    LUMA,
    HalftoneSettings,
    PhotoSamples,
    ReferenceSettings,
    SampleMaker,
    StreamBatchSampler,
    apply_color_shift,
    color_shift_matrix,
    draw_screen,
    find_photos,
    is_validation,
    load_photos,
    simulate_scan,
    smooth_color,
    smooth_gray,
    split_photos,
)
from halftint.errors import UsageError
from halftint.io import write_image


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth color image with some texture, float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phase = rng.uniform(0, 6, 3)
    image = np.stack(
        [np.sin(5 * x + phase[0]), np.cos(4 * y + phase[1]), np.sin(3 * (x + y) + phase[2])], -1
    )
    return (0.5 + 0.4 * image).astype(np.float32)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for index in range(4):
        write_image(_photo(40 + 8 * index, 56, index), folder / "sub" / f"photo{index}.png")
    return folder


def test_find_photos_is_recursive_sorted_and_skips_hidden_and_other_files(
    photo_folder: Path,
) -> None:
    (photo_folder / "notes.txt").write_text("not a photo")
    write_image(_photo(20, 20, 9), photo_folder / ".hidden" / "skip.png")
    found = find_photos(photo_folder)
    assert [path.name for path in found] == [f"photo{index}.png" for index in range(4)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "data folder not found"),
        (lambda root: _touch(root / "file.png"), "must be a folder"),
        (lambda root: _mkdir(root / "empty"), "holds no photos"),
        (lambda root: _touch(_mkdir(root / "text") / "a.txt").parent, "holds no photos"),
    ],
)
def test_find_photos_rejects_bad_folders(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        find_photos(make(tmp_path))


def _touch(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def test_split_is_deterministic_and_close_to_the_fraction() -> None:
    names = [Path(f"folder/photo_{index:04d}.jpg") for index in range(2000)]
    chosen = [is_validation(name, 0.1) for name in names]
    assert chosen == [is_validation(name, 0.1) for name in names]
    assert 150 < sum(chosen) < 250
    assert not any(is_validation(name, 0.0) for name in names)
    root = Path("/data")
    train, val = split_photos([root / name for name in names], root, 0.1)
    assert len(train) + len(val) == 2000 and len(val) == sum(chosen)


def test_load_photos_skips_broken_files_and_downscales(photo_folder: Path) -> None:
    broken = photo_folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    cache = load_photos([*find_photos(photo_folder)], long_side=32)
    assert len(cache.images) == 4
    assert [Path(path).name for path, _ in cache.skipped] == ["broken.jpg"]
    for image in cache.images:
        assert image.dtype == np.uint8 and image.shape[2] == 3 and max(image.shape[:2]) == 32


def test_color_shift_keeps_luma_and_identity_is_identity() -> None:
    assert np.allclose(color_shift_matrix(0.0, 1.0), np.eye(3), atol=1e-6)
    rgb = np.full((4, 4, 3), 0.5, dtype=np.float32)
    rgb[..., 0] = 0.6
    rgb[..., 2] = 0.4
    shifted = apply_color_shift(rgb, color_shift_matrix(0.3, 1.2))
    assert not np.allclose(shifted, rgb, atol=1e-3)
    assert np.allclose(shifted @ LUMA, rgb @ LUMA, atol=1e-5)
    # saturation 0 leaves gray
    gray = apply_color_shift(rgb, color_shift_matrix(0.0, 0.0))
    assert np.allclose(gray, (rgb @ LUMA)[..., None], atol=1e-5)


def test_draw_screen_follows_the_mixture_and_the_period_range() -> None:
    settings = HalftoneSettings(mixture={"floyd-steinberg": 3.0, "clustered": 1.0})
    rng = np.random.default_rng(0)
    screens = [draw_screen(settings, rng) for _ in range(2000)]
    counts = Counter(screen.method for screen in screens)
    assert 0.70 < counts["floyd-steinberg"] / 2000 < 0.80
    for screen in screens:
        if screen.method == "clustered":
            period = screen.options["dpi"] / screen.options["lpi"]
            assert 3.0 <= period <= 12.0
            assert 0.0 <= screen.options["angle"] <= 90.0
            assert screen.options["spot"] in settings.clustered_spots


def test_simulate_scan_stays_in_range_and_is_no_longer_binary() -> None:
    halftone = (np.random.default_rng(1).random((32, 32)) > 0.5).astype(np.float32)
    for seed in range(5):
        scanned = simulate_scan(halftone, np.random.default_rng(seed))
        assert scanned.shape == (32, 32) and scanned.dtype == np.float32
        assert scanned.min() >= 0.0 and scanned.max() <= 1.0
        assert len(np.unique(scanned)) > 2


def test_sample_fields_shapes_ranges_and_relations() -> None:
    photo = (_photo(80, 100, 3) * 255).astype(np.uint8)
    maker = SampleMaker(32, (0.6, 1.0), HalftoneSettings(scan_effects=0.0), ReferenceSettings())
    sample = maker(photo, np.random.default_rng(5))
    expected_channels = {
        "color": 3,
        "gray": 1,
        "halftone": 1,
        "target": 3,
        "reference": 3,
        "color_halftone": 3,
    }
    assert {name: tensor.shape for name, tensor in sample.items()} == {
        **{name: (channels, 32, 32) for name, channels in expected_channels.items()},
        "smooth": (1, 1, 1),
    }
    assert sample["smooth"].item() == 0.0  # a crop of the photo
    for tensor in sample.values():
        assert tensor.dtype == torch.float32 and tensor.min() >= 0 and tensor.max() <= 1
    assert set(sample["halftone"].unique().tolist()) <= {0.0, 1.0}
    assert set(sample["color_halftone"].unique().tolist()) <= {0.0, 1.0}
    luma = torch.tensor(LUMA).view(3, 1, 1)
    assert torch.allclose((sample["color"] * luma).sum(0), sample["gray"][0], atol=1e-5)
    # the color shift keeps luma (up to clipping at the cube's faces)
    assert ((sample["target"] * luma).sum(0) - sample["gray"][0]).abs().mean() < 0.02
    # the halftone keeps the tone on average
    assert abs(sample["halftone"].mean() - sample["gray"].mean()) < 0.05


def test_sample_maker_makes_only_the_fields_asked_and_is_seeded() -> None:
    photo = (_photo(50, 60, 4) * 255).astype(np.uint8)
    maker = SampleMaker(
        24, (0.6, 1.0), HalftoneSettings(), ReferenceSettings(), ("gray", "halftone")
    )
    first = maker(photo, np.random.default_rng(7))
    second = maker(photo, np.random.default_rng(7))
    assert set(first) == {"gray", "halftone"}
    assert all(torch.equal(first[name], second[name]) for name in first)
    other = maker(photo, np.random.default_rng(8))
    assert not torch.equal(first["gray"], other["gray"])
    with pytest.raises(ValueError, match="unknown sample fields"):
        SampleMaker(24, (0.6, 1.0), HalftoneSettings(), ReferenceSettings(), ("colour",))


def test_photo_samples_are_a_pure_function_of_the_sample_number() -> None:
    photos = [(_photo(40, 40, seed) * 255).astype(np.uint8) for seed in range(3)]
    maker = SampleMaker(16, (0.6, 1.0), HalftoneSettings(), ReferenceSettings(), ("color",))
    dataset = PhotoSamples(photos, maker, seed=1, stream=0)
    forward = [dataset[number]["color"] for number in range(7)]
    backward = [
        PhotoSamples(photos, maker, seed=1, stream=0)[number]["color"]
        for number in reversed(range(7))
    ]
    assert all(torch.equal(a, b) for a, b in zip(forward, reversed(backward), strict=True))
    # every epoch visits every photo once
    for epoch in range(3):
        visited = sorted(dataset.photo_index(epoch * 3 + position) for position in range(3))
        assert visited == [0, 1, 2]
    assert not torch.equal(
        dataset[0]["color"], PhotoSamples(photos, maker, seed=1, stream=1)[0]["color"]
    )


def test_stream_sampler_splits_each_global_batch_over_processes() -> None:
    single = list(StreamBatchSampler(start=8, batches=3, batch_size=4))
    assert single == [[8, 9, 10, 11], [12, 13, 14, 15], [16, 17, 18, 19]]
    rank_0 = list(StreamBatchSampler(start=8, batches=3, batch_size=4, rank=0, world_size=2))
    rank_1 = list(StreamBatchSampler(start=8, batches=3, batch_size=4, rank=1, world_size=2))
    assert [a + b for a, b in zip(rank_0, rank_1, strict=True)] == single
    assert len(rank_0) == 3
    with pytest.raises(ValueError, match="does not split evenly"):
        StreamBatchSampler(start=0, batches=1, batch_size=3, world_size=2)


def test_smooth_crops_are_even_grays_of_any_tone_and_only_their_share() -> None:
    rng = np.random.default_rng(0)
    grays = [smooth_gray(48, rng) for _ in range(200)]
    for gray in grays:
        assert gray.shape == (48, 48) and gray.dtype == np.float32
        assert gray.min() >= 0.0 and gray.max() <= 1.0
        # no detail: neighbouring pixels differ by a few 8-bit levels at most
        assert np.abs(np.diff(gray, axis=1)).max() < 8 / 255
    means = np.array([gray.mean() for gray in grays])
    assert means.min() < 0.1 and means.max() > 0.9
    photo = _photo(64, 64, 1)
    fields = ("color", "gray", "halftone", "target", "reference")
    settings = ReferenceSettings(color_shift=0.0)
    plain = SampleMaker(32, (0.6, 1.0), HalftoneSettings(), settings, fields)
    every = SampleMaker(32, (0.6, 1.0), HalftoneSettings(), settings, fields, smooth=1.0)
    half = SampleMaker(32, (0.6, 1.0), HalftoneSettings(), settings, fields, smooth=0.5)
    photo_gray = plain(photo, np.random.default_rng(3))["gray"]
    smooth = every(photo, np.random.default_rng(3))
    assert smooth["gray"].shape == photo_gray.shape and smooth["halftone"].shape == (1, 32, 32)
    assert not torch.equal(smooth["gray"], photo_gray)

    def is_even(gray: torch.Tensor) -> bool:
        return float((gray[..., 1:] - gray[..., :-1]).abs().max()) < 8 / 255

    assert is_even(smooth["gray"]) and is_even(smooth["color"])
    assert torch.equal(smooth["reference"], smooth["target"])  # its reference is its own color
    luma = torch.tensor(LUMA).view(3, 1, 1)
    assert torch.allclose((smooth["color"] * luma).sum(0), smooth["gray"][0], atol=1e-5)
    # one color: the chroma of every pixel points one way
    chroma = (smooth["color"] - smooth["gray"]).reshape(3, -1)
    strongest = chroma[:, chroma.norm(dim=0).argmax()]
    cosine = (strongest @ chroma) / (strongest.norm() * chroma.norm(dim=0)).clamp_min(1e-9)
    assert float(cosine[chroma.norm(dim=0) > 1e-4].min()) > 0.999
    # a photo's reference is another view of it: count the samples of the half share that are not
    samples = [half(photo, np.random.default_rng(seed)) for seed in range(200)]
    flat = sum(bool(torch.equal(sample["reference"], sample["target"])) for sample in samples)
    assert 70 <= flat <= 130
    # the `smooth` field says which is which
    marked = SampleMaker(
        32, (0.6, 1.0), HalftoneSettings(), settings, (*fields, "smooth"), smooth=0.5
    )
    flagged = [marked(photo, np.random.default_rng(seed)) for seed in range(40)]
    for sample in flagged:
        assert sample["smooth"].item() == float(torch.equal(sample["reference"], sample["target"]))


def test_smooth_colors_keep_the_gray_and_stay_in_range_at_every_tone() -> None:
    rng = np.random.default_rng(1)
    colors = []
    for tone in (0.0, 0.02, 0.5, 0.98, 1.0):
        gray = np.full((8, 8), tone, np.float32)
        color = smooth_color(gray, rng, strength=0.5)
        assert color.shape == (8, 8, 3) and color.dtype == np.float32
        assert color.min() >= 0.0 and color.max() <= 1.0
        np.testing.assert_allclose(color @ LUMA, gray, atol=1e-6)
        colors.append(color)
    assert np.abs(colors[2] - 0.5).max() > 0.02  # a mid tone takes a color
    assert np.abs(colors[0]).max() == 0.0 and np.abs(colors[-1] - 1.0).max() == 0.0
