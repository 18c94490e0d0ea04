"""Weights bundles: round trips, sha256 verification, strict loading, atomic saving."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY_WORKING_SIZE, tiny_preset
from safetensors.torch import load_file, save_file

from halftint import checkpoint
from halftint.bundle import (
    FORMAT_VERSION,
    photo_spreads,
    read_manifest,
    reverse_halftone_method,
    sha256_file,
    verified,
)
from halftint.checkpoint import load_bundle, save_bundle
from halftint.errors import WeightsError
from halftint.nets import ColorizationNet, build_networks


def _save(folder: Path, networks: dict[str, torch.nn.Module], **options: object) -> Path:
    return save_bundle(
        folder,
        networks,
        preset="tiny",
        working_size=TINY_WORKING_SIZE,
        halftone_methods=["floyd-steinberg", "clustered"],
        data="12 test photos",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def networks() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    built = build_networks(tiny_preset(), ["ihn", "encoder", "generator", "fusion"])
    # non-default BatchNorm statistics, so that the round trip covers buffers too
    for module in built["ihn"].modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return built


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the session bundle, free to tamper with."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))


def _rehash(bundle: Path, relative: str) -> None:
    """Update bundle.json after a deliberate edit, so that only the edit's effect is tested."""
    meta = json.loads((bundle / "bundle.json").read_text())
    meta["files"][relative] = sha256_file(bundle / relative)
    (bundle / "bundle.json").write_text(json.dumps(meta))


def test_save_then_load_gives_identical_outputs_and_configs(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    folder = _save(tmp_path / "b", networks, metrics={"psnr": 23.5})
    bundle = load_bundle(folder)
    assert set(bundle.networks) == {"ihn", "encoder", "generator", "fusion"}
    assert (bundle.preset, bundle.working_size, bundle.name) == ("tiny", TINY_WORKING_SIZE, "b")
    halftone = (torch.rand(2, 1, 45, 31) > 0.5).float()
    z = torch.randn(2, 8)
    reference = torch.rand(2, 3, 40, 50)
    for network in networks.values():
        network.eval()
    with torch.no_grad():
        for key, network in networks.items():
            assert bundle.networks[key].config == network.config
            assert not bundle.networks[key].training
        assert torch.equal(bundle.networks["ihn"](halftone), networks["ihn"](halftone))
        gray = networks["ihn"](halftone)
        assert torch.equal(
            bundle.networks["generator"](gray, halftone, z),
            networks["generator"](gray, halftone, z),
        )
        assert torch.equal(
            bundle.networks["encoder"](reference)[0], networks["encoder"](reference)[0]
        )


def test_the_reverse_halftone_is_recorded_and_read_with_a_fallback_for_older_bundles(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    folder = _save(tmp_path / "b", networks, reverse_halftone="clustered")
    assert read_manifest(folder).meta["reverse_halftone"] == "clustered"
    assert load_bundle(folder).reverse_halftone == "clustered"
    # bundles from before the field: the first of their methods, else Floyd-Steinberg
    assert reverse_halftone_method({"halftone_methods": ["jarvis", "clustered"]}) == "jarvis"
    assert reverse_halftone_method({"halftone_methods": []}) == "floyd-steinberg"
    assert reverse_halftone_method({}) == "floyd-steinberg"
    shipped = read_manifest(Path(checkpoint.__file__).parent / "weights" / "lite-photos-v3")
    assert "reverse_halftone" not in shipped.meta
    assert reverse_halftone_method(shipped.meta) == "floyd-steinberg"


def test_bundle_json_describes_everything(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    folder = _save(tmp_path / "b", networks, name="faces-v1", metrics={"psnr": {"fs": 30.1}})
    meta = read_manifest(folder).meta
    assert folder.stat().st_mode & 0o777 == 0o755  # not the temporary folder's private mode
    assert meta["format_version"] == FORMAT_VERSION
    assert (meta["name"], meta["preset"], meta["working_size"]) == ("faces-v1", "tiny", 32)
    assert meta["halftone_methods"] == ["floyd-steinberg", "clustered"]
    assert meta["reverse_halftone"] == "floyd-steinberg"  # by default the first method
    assert meta["data"] == "12 test photos"
    assert meta["metrics"] == {"psnr": {"fs": 30.1}}
    assert meta["networks"]["ihn"]["class"] == "InverseHalftoneNet"
    assert meta["networks"]["ihn"]["parameters"] == sum(
        p.numel() for p in networks["ihn"].parameters()
    )
    assert meta["networks"]["ihn"]["config"]["base_channels"] == 4
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(meta["files"]) == on_disk - {"bundle.json"}
    assert len(meta["files"]) == 9  # 4 networks x 2 files + README.md
    for relative, digest in meta["files"].items():
        assert digest == hashlib.sha256((folder / relative).read_bytes()).hexdigest()
    card = (folder / "README.md").read_text()
    assert "# faces-v1" in card and "| psnr.fs | 30.1 |" in card
    assert "- the reverse cascade re-halftones with: floyd-steinberg" in card
    assert f"| ihn | InverseHalftoneNet | {meta['networks']['ihn']['parameters']:,} |" in card


def test_a_tampered_byte_is_refused(bundle_copy: Path) -> None:
    weights = bundle_copy / "generator" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(
        WeightsError, match=r"generator/model\.safetensors does not match its sha256"
    ):
        verified(bundle_copy)
    with pytest.raises(WeightsError, match=r"generator/model\.safetensors does not match"):
        load_bundle(bundle_copy)


def test_a_missing_file_is_named(bundle_copy: Path) -> None:
    (bundle_copy / "fusion" / "config.json").unlink()
    with pytest.raises(WeightsError, match=r"incomplete: fusion/config\.json is missing"):
        load_bundle(bundle_copy)


def test_a_missing_key_is_refused_by_name(bundle_copy: Path) -> None:
    path = bundle_copy / "fusion" / "model.safetensors"
    tensors = load_file(str(path))
    del tensors["tail.bias"]
    save_file(tensors, str(path))
    _rehash(bundle_copy, "fusion/model.safetensors")
    verified(bundle_copy)
    with pytest.raises(WeightsError, match=r"does not fit its config \(missing keys: tail\.bias\)"):
        load_bundle(bundle_copy)


def test_an_unexpected_key_is_refused_by_name(bundle_copy: Path) -> None:
    path = bundle_copy / "fusion" / "model.safetensors"
    tensors = load_file(str(path))
    tensors["extra.weight"] = torch.zeros(3)
    save_file(tensors, str(path))
    _rehash(bundle_copy, "fusion/model.safetensors")
    with pytest.raises(WeightsError, match=r"unexpected keys: extra\.weight"):
        load_bundle(bundle_copy)


def test_networks_are_built_from_config_not_shapes(bundle_copy: Path) -> None:
    config_path = bundle_copy / "fusion" / "config.json"
    doc = json.loads(config_path.read_text())
    doc["config"]["channels"] = 8  # weights were saved with 4 channels
    config_path.write_text(json.dumps(doc))
    _rehash(bundle_copy, "fusion/config.json")
    with pytest.raises(
        WeightsError,
        match=r"head\.weight has shape \(4, 6, 7, 7\), the config needs \(8, 6, 7, 7\)",
    ):
        load_bundle(bundle_copy)
    doc["config"]["colour"] = 1
    config_path.write_text(json.dumps(doc))
    _rehash(bundle_copy, "fusion/config.json")
    with pytest.raises(WeightsError, match="fusion config has unknown fields: colour"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(("dtype", "tolerance"), [("float16", 2**-10), ("bfloat16", 2**-7)])
def test_half_precision_storage_round_trip(
    networks: dict[str, torch.nn.Module], tmp_path: Path, dtype: str, tolerance: float
) -> None:
    full = _save(tmp_path / "full", networks)
    half = _save(tmp_path / "half", networks, dtype=dtype)
    weights = Path("ihn") / "model.safetensors"
    assert (half / weights).stat().st_size < 0.6 * (full / weights).stat().st_size
    loaded = load_bundle(half).networks
    for key, network in networks.items():
        for name, value in network.state_dict().items():
            restored = loaded[key].state_dict()[name]
            assert restored.dtype == value.dtype, name
            if value.is_floating_point():
                # relative rounding error of the storage format (10 / 7 mantissa bits)
                assert torch.allclose(restored, value, rtol=tolerance, atol=1e-6), name
    # the storage really was lossy: random weights are not representable exactly
    assert not torch.equal(loaded["fusion"].head.weight, networks["fusion"].head.weight)


def test_unknown_dtype_is_refused(networks: dict[str, torch.nn.Module], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dtype 'int8'; valid: float32, float16, bfloat16"):
        _save(tmp_path / "b", networks, dtype="int8")


def test_required_networks_are_enforced(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    del networks["fusion"]
    with pytest.raises(ValueError, match="a bundle needs the networks fusion"):
        _save(tmp_path / "b", networks)
    assert not (tmp_path / "b").exists()


def test_not_a_bundle_and_newer_format_are_explained(bundle_copy: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        WeightsError, match=r"empty is not a halftint weights bundle \(no bundle\.json\)"
    ):
        read_manifest(empty)
    with pytest.raises(WeightsError, match="weights folder not found"):
        read_manifest(tmp_path / "nowhere")
    meta = json.loads((bundle_copy / "bundle.json").read_text())
    meta["format_version"] = FORMAT_VERSION + 1
    (bundle_copy / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(
        WeightsError, match=r"written by a newer halftint \(format 2 > 1\); upgrade halftint"
    ):
        load_bundle(bundle_copy)


def test_load_a_subset_and_name_absent_networks(
    tiny_bundle: Path, tmp_path: Path, networks: dict[str, torch.nn.Module]
) -> None:
    bundle = load_bundle(tiny_bundle, names=["ihn"])
    assert list(bundle.networks) == ["ihn"]
    assert set(load_bundle(tiny_bundle).networks) == {
        "ihn", "encoder", "generator", "discriminator", "histogram", "fusion",
    }  # fmt: skip
    partial = _save(tmp_path / "b", networks)
    with pytest.raises(
        WeightsError, match=r"has no histogram network \(it has: ihn, encoder, generator, fusion\)"
    ):
        load_bundle(partial, names=["ihn", "histogram"])


def test_existing_folders_are_kept_unless_overwriting_a_bundle(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    folder = _save(tmp_path / "b", networks, name="first")
    with pytest.raises(WeightsError, match="already exists"):
        _save(folder, networks, name="second")
    assert read_manifest(folder).meta["name"] == "first"
    _save(folder, networks, name="second", overwrite=True)
    assert read_manifest(folder).meta["name"] == "second"
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(WeightsError, match="is not a weights bundle; refusing to replace it"):
        _save(precious, networks, overwrite=True)
    assert (precious / "cat.jpg").read_bytes() == b"meow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "photos"]


def test_a_crash_while_saving_leaves_nothing(
    networks: dict[str, torch.nn.Module], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []

    def failing_save(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str]) -> None:
        if written:
            raise OSError("disk full")
        written.append(path)
        save_file(tensors, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        _save(tmp_path / "b", networks)
    assert written and list(tmp_path.iterdir()) == []


def test_sha256_file_reads_large_files_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 10_000  # larger than one read chunk
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def _semantic_networks() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    built = build_networks(tiny_preset(), ["ihn", "encoder", "generator", "fusion"])
    config = dataclasses.replace(built["generator"].config, depth=5, semantic="efficientnet-lite0")
    built["generator"] = ColorizationNet(config)
    with torch.no_grad():
        built["generator"].semantic._bn0.running_mean.uniform_(-0.1, 0.1)
        built["generator"].unet.feature_projections[0].weight.normal_()
    return built


def test_a_semantic_generator_round_trips_with_its_encoder(tmp_path: Path) -> None:
    networks = _semantic_networks()
    bundle = load_bundle(_save(tmp_path / "b", networks))
    loaded = bundle.networks["generator"]
    for key, value in networks["generator"].state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert any(key.startswith("semantic._blocks.15.") for key in loaded.state_dict())


def test_a_bundle_without_the_semantic_weights_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    folder = _save(tmp_path / "b", _semantic_networks())
    path = folder / "generator" / "model.safetensors"
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith("semantic.")}
    save_file(tensors, str(path))
    _rehash(folder, "generator/model.safetensors")
    with pytest.raises(WeightsError) as caught:
        load_bundle(folder)
    message = str(caught.value)
    assert (
        "generator/model.safetensors does not fit its config (missing keys: all of semantic.*"
        in message
    )
    assert "\n" not in message


def test_photo_spreads_are_recorded_and_named_in_the_model_card(
    networks: dict[str, torch.nn.Module], tmp_path: Path
) -> None:
    folder = _save(tmp_path / "b", networks, photo_spreads=[(0.0512345, 0.04), (0.02, 0.031)])
    meta = read_manifest(folder).meta
    assert meta["photo_spreads"] == [[0.05123, 0.04], [0.02, 0.031]]
    assert photo_spreads(meta) == [(0.05123, 0.04), (0.02, 0.031)]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "random colorings take their color spread from: 2 training photos" in card
    plain = read_manifest(_save(tmp_path / "c", networks)).meta
    assert "photo_spreads" not in plain and photo_spreads(plain) == []
    assert "none recorded (the networks' colors)" in (tmp_path / "c" / "README.md").read_text()
