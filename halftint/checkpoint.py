"""Weights bundles: the one on-disk format for trained networks.

A bundle is a folder:

    bundle.json              format version, preset, working size, training facts, metrics,
                             per-network class/parameters/config, sha256 of every other file
    README.md                a model card rendered from bundle.json
    <network>/config.json    format version, network key, class and config of one network
    <network>/model.safetensors

with one subfolder per network: "ihn", "encoder", "generator", "fusion" always, "discriminator"
and "histogram" optionally. Loading verifies every sha256 first, builds each network from its
config.json (never from tensor shapes) and loads its weights strictly. Saving writes into a
temporary folder beside the target and renames it into place, so a crash never leaves half a
bundle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from halftint._version import __version__
from halftint.errors import WeightsError
from halftint.nets.presets import NETWORK_CLASSES

BUNDLE_FORMAT_VERSION = 1
REQUIRED_NETWORKS = ("ihn", "encoder", "generator", "fusion")
OPTIONAL_NETWORKS = ("discriminator", "histogram")
BUNDLE_FILE = "bundle.json"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_CARD_FILE = "README.md"
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

_HASH_CHUNK = 1 << 20


@dataclass
class Bundle:
    """A loaded bundle: its folder, its bundle.json and its networks (in eval mode)."""

    path: Path
    meta: dict[str, Any]
    networks: dict[str, nn.Module]

    @property
    def preset(self) -> str:
        """The name of the preset the networks were built from."""
        return str(self.meta["preset"])

    @property
    def working_size(self) -> int:
        """The side the colorization networks were trained at."""
        return int(self.meta["working_size"])

    @property
    def name(self) -> str:
        """The bundle's name."""
        return str(self.meta["name"])


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def count_parameters(network: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BatchNorm statistics excluded)."""
    return sum(parameter.numel() for parameter in network.parameters())


def network_config_dict(network: nn.Module) -> dict[str, Any]:
    """A network's dataclass config as a JSON-ready dict."""
    config = getattr(network, "config", None)
    if config is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"{type(network).__name__} has no dataclass `config` attribute")
    return dataclasses.asdict(config)


def build_network(key: str, config: dict[str, Any], class_name: str | None = None) -> nn.Module:
    """Build the network `key` ("ihn", ...) from a config dict as stored in config.json.

    Raises:
        WeightsError: unknown network key, class mismatch, or unknown / invalid config fields.
    """
    if key not in NETWORK_CLASSES:
        raise WeightsError(f"unknown network {key!r} (valid: {', '.join(NETWORK_CLASSES)})")
    config_class, module_class = NETWORK_CLASSES[key]
    if class_name is not None and class_name != module_class.__name__:
        raise WeightsError(
            f"network {key!r} is a {class_name}, but this halftint builds it as "
            f"{module_class.__name__}"
        )
    known = {item.name for item in dataclasses.fields(config_class)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise WeightsError(f"{key} config has unknown fields: {', '.join(unknown)}")
    # JSON has no tuples; dataclass fields typed as tuples come back as lists
    values = {name: tuple(v) if isinstance(v, list) else v for name, v in config.items()}
    try:
        return module_class(config_class(**values))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{key} config is invalid: {error}") from error


def save_bundle(
    folder: str | os.PathLike[str],
    networks: dict[str, nn.Module],
    *,
    preset: str,
    working_size: int,
    halftone_methods: list[str],
    data: str,
    metrics: dict[str, Any] | None = None,
    name: str | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
    parent: dict[str, str] | None = None,
    screen_periods: tuple[float, float] | None = None,
) -> Path:
    """Write `networks` as a bundle at `folder`, atomically; return its path.

    Args:
        folder: the bundle folder to create.
        networks: modules keyed by network name; must include REQUIRED_NETWORKS.
        preset: the preset the networks were built from.
        working_size: the side the colorization networks were trained at.
        halftone_methods: the halftoning method(s) of the training data.
        data: a description of the training data.
        metrics: measured quality (JSON-ready), if any.
        name: the bundle's name (default: the folder's name).
        dtype: storage dtype of floating-point weights: float32, float16 or bfloat16 (loading
            casts back to float32).
        overwrite: replace an existing bundle at `folder`.
        parent: the bundle some of the networks came from (its name and sha256), if any.
        screen_periods: the clustered-dot periods (px) IHN was trained on, if known.

    Raises:
        ValueError: missing required or unknown networks, or an unknown dtype.
        WeightsError: `folder` exists (and not overwrite), or exists and is not a bundle.
    """
    target = Path(folder)
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(STORAGE_DTYPES)}")
    missing = [key for key in REQUIRED_NETWORKS if key not in networks]
    if missing:
        raise ValueError(f"a bundle needs the networks {', '.join(missing)}")
    unknown = [key for key in networks if key not in NETWORK_CLASSES]
    if unknown:
        raise ValueError(
            f"unknown networks {', '.join(unknown)}; valid: {', '.join(NETWORK_CLASSES)}"
        )
    _check_replaceable(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)

    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        # mkdtemp makes a private (0700) folder; a bundle is meant to be shared like any folder
        staging.chmod(0o755)
        network_meta: dict[str, Any] = {}
        for key in sorted(networks, key=list(NETWORK_CLASSES).index):
            network_meta[key] = _write_network(staging / key, key, networks[key], dtype)
        meta: dict[str, Any] = {
            "format_version": BUNDLE_FORMAT_VERSION,
            "name": name or target.name,
            "preset": preset,
            "working_size": int(working_size),
            "halftone_methods": list(halftone_methods),
            "data": data,
            "metrics": metrics or {},
            "dtype": dtype,
            "halftint_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "networks": network_meta,
        }
        if parent:
            meta["parent"] = dict(parent)
        if screen_periods is not None:
            meta["screen_periods"] = [float(screen_periods[0]), float(screen_periods[1])]
        (staging / MODEL_CARD_FILE).write_text(render_model_card(meta), encoding="utf-8")
        meta["files"] = {
            path.relative_to(staging).as_posix(): sha256_file(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        (staging / BUNDLE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not overwrite:
        raise WeightsError(f"{target} already exists (overwrite it to replace it)")
    # never delete a folder that is not ours: only a bundle or an empty folder is replaced
    if not target.is_dir() or not ((target / BUNDLE_FILE).is_file() or not any(target.iterdir())):
        raise WeightsError(f"{target} exists and is not a weights bundle; refusing to replace it")


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    # the old bundle steps aside first, so the target is always either old or new, never half
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    retired.rmdir()
    target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def _write_network(folder: Path, key: str, network: nn.Module, dtype: str) -> dict[str, Any]:
    expected_class = NETWORK_CLASSES[key][1]
    if not isinstance(network, expected_class):
        raise ValueError(
            f"network {key!r} must be a {expected_class.__name__}, got {type(network).__name__}"
        )
    folder.mkdir()
    config = network_config_dict(network)
    class_name = type(network).__name__
    config_doc = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "network": key,
        "class": class_name,
        "config": config,
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config_doc, indent=2) + "\n", encoding="utf-8")
    storage = STORAGE_DTYPES[dtype]
    tensors = {
        name: (value.detach().to(storage) if value.is_floating_point() else value.detach())
        .cpu()
        .contiguous()
        for name, value in network.state_dict().items()
    }
    save_file(tensors, str(folder / WEIGHTS_FILE), metadata={"network": key, "dtype": dtype})
    return {"class": class_name, "parameters": count_parameters(network), "config": config}


def render_model_card(meta: dict[str, Any]) -> str:
    """The README.md of a bundle: what it is, how it was trained, how well it does."""
    lines = [
        f"# {meta['name']}",
        "",
        "Weights for halftint, which turns black-and-white halftone prints into color photos "
        "(inverse halftone colorization).",
        "",
        f"- preset: `{meta['preset']}`, working size {meta['working_size']} px",
        f"- trained on: {meta['data']}",
        f"- halftone methods: {', '.join(meta['halftone_methods']) or 'none recorded'}",
        f"- stored as: {meta.get('dtype', 'float32')}",
        f"- written by halftint {meta['halftint_version']} on {meta['created']}",
        "",
        "| network | class | parameters |",
        "|---|---|---:|",
    ]
    for key, info in meta["networks"].items():
        lines.append(f"| {key} | {info['class']} | {info['parameters']:,} |")
    lines.append("")
    if meta.get("metrics"):
        lines += ["## Metrics", "", "| metric | value |", "|---|---:|"]
        metrics = sorted(flatten_metrics(meta["metrics"]))
        lines += [f"| {name} | {value} |" for name, value in metrics]
        lines.append("")
    lines += [
        "## Use",
        "",
        "```sh",
        "halftint colorize scan.png --weights PATH_OR_HF_SOURCE --random -n 3",
        "```",
        "",
    ]
    return "\n".join(lines)


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted name, value) of every leaf of a nested metrics dict, in order."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flatten_metrics(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def read_bundle_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a bundle's bundle.json (without verifying its files).

    Raises:
        WeightsError: the folder is missing or no bundle, bundle.json is unreadable, or it was
            written by a newer halftint.
    """
    root = Path(folder)
    if not root.is_dir():
        raise WeightsError(f"weights folder not found: {root}")
    path = root / BUNDLE_FILE
    if not path.is_file():
        raise WeightsError(f"{root} is not a halftint weights bundle (no {BUNDLE_FILE})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path} is unreadable: {error}") from error
    if not isinstance(meta, dict):
        raise WeightsError(f"{path} is not a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise WeightsError(f"{path} has no integer format_version")
    if version > BUNDLE_FORMAT_VERSION:
        raise WeightsError(
            f"{root} was written by a newer halftint (format {version} > "
            f"{BUNDLE_FORMAT_VERSION}); upgrade halftint"
        )
    for field in ("preset", "working_size", "files", "networks"):
        if field not in meta:
            raise WeightsError(f"{path} lacks the field {field!r}")
    missing = [key for key in REQUIRED_NETWORKS if key not in meta["networks"]]
    if missing:
        raise WeightsError(f"{root} lacks the networks {', '.join(missing)}")
    return meta


def verify_bundle(folder: str | os.PathLike[str]) -> None:
    """Re-hash every file bundle.json lists.

    Raises:
        WeightsError: naming the first missing or mismatching file (or a bad bundle.json).
    """
    root = Path(folder)
    meta = read_bundle_meta(root)
    files = meta["files"]
    if not isinstance(files, dict) or not files:
        raise WeightsError(f"{root / BUNDLE_FILE} lists no files")
    for relative, expected in files.items():
        parts = Path(relative).parts
        if Path(relative).is_absolute() or ".." in parts or not parts:
            raise WeightsError(f"{root / BUNDLE_FILE} lists a path outside the bundle: {relative}")
        path = root / relative
        if not path.is_file():
            raise WeightsError(f"{root} is incomplete: {relative} is missing")
        if sha256_file(path) != expected:
            raise WeightsError(
                f"{root / relative} does not match its sha256 in {BUNDLE_FILE}: the file is "
                "corrupt or was changed; download or copy the bundle again"
            )
    for key in meta["networks"]:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if f"{key}/{name}" not in files:
                raise WeightsError(f"{root / BUNDLE_FILE} does not list {key}/{name}")


def load_bundle(
    folder: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    names: Iterable[str] | None = None,
) -> Bundle:
    """Verify and load a bundle; networks come back float32, in eval mode, on `device`.

    Args:
        folder: the bundle folder.
        device: where the networks go.
        names: the networks to load (default: every network in the bundle).

    Raises:
        WeightsError: verification fails, a requested network is absent, a config is invalid,
            or the weights do not fit the network (missing / unexpected keys, wrong shapes).
    """
    root = Path(folder)
    verify_bundle(root)
    meta = read_bundle_meta(root)
    wanted = list(meta["networks"]) if names is None else list(names)
    absent = [key for key in wanted if key not in meta["networks"]]
    if absent:
        raise WeightsError(
            f"{root} has no {', '.join(absent)} network (it has: {', '.join(meta['networks'])})"
        )
    networks = {key: _load_network(root, key).to(device).eval() for key in wanted}
    return Bundle(path=root, meta=meta, networks=networks)


def read_network_config(
    folder: str | os.PathLike[str], key: str
) -> tuple[str | None, dict[str, Any]]:
    """The class name and config dict stored in `<folder>/<key>/config.json`.

    Raises:
        WeightsError: the file is unreadable, malformed, or of a newer format.
    """
    config_path = Path(folder) / key / CONFIG_FILE
    try:
        config_doc = json.loads(config_path.read_text(encoding="utf-8"))
        config = config_doc["config"]
        class_name = config_doc.get("class")
        version = config_doc.get("format_version", BUNDLE_FORMAT_VERSION)
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        AttributeError,
    ) as error:
        raise WeightsError(f"{config_path} is unreadable: {error}") from error
    if not isinstance(config, dict):
        raise WeightsError(f"{config_path}: 'config' is not a JSON object")
    if not isinstance(version, int) or version > BUNDLE_FORMAT_VERSION:
        raise WeightsError(f"{config_path} was written by a newer halftint; upgrade halftint")
    return class_name, config


def _load_network(root: Path, key: str) -> nn.Module:
    class_name, config = read_network_config(root, key)
    network = build_network(key, config, class_name)
    weights_path = root / key / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{weights_path} is not a readable safetensors file: {error}") from error
    _load_strict(network, tensors, weights_path)
    return network


def _load_strict(network: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if any(key.startswith("semantic.") for key in missing):
        raise WeightsError(
            f"{source} lacks the weights of its semantic encoder (EfficientNet-Lite0, "
            f"{sum(key.startswith('semantic.') for key in missing)} tensors); the bundle must "
            "carry them: export it again from its training run"
        )
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"missing keys: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
            )
        if unexpected:
            parts.append(
                f"unexpected keys: {', '.join(unexpected[:5])}"
                + (" ..." if len(unexpected) > 5 else "")
            )
        raise WeightsError(f"{source} does not fit its config ({'; '.join(parts)})")
    for name, reference in expected.items():
        if tensors[name].shape != reference.shape:
            raise WeightsError(
                f"{source}: {name} has shape {tuple(tensors[name].shape)}, the config needs "
                f"{tuple(reference.shape)}"
            )
    # load_state_dict copies into the float32 parameters, casting half-precision storage back
    network.load_state_dict(tensors, strict=True)


def record_metrics(folder: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Merge `metrics` into a local bundle's `metrics` and regenerate its model card.

    The bundle is verified first and rewritten like `save_bundle` writes one: a copy is changed
    and renamed into place, so the folder is always a complete, verifiable bundle.

    Raises:
        WeightsError: `folder` is not a bundle, or one of its files fails verification.
    """
    target = Path(folder)
    verify_bundle(target)
    meta = read_bundle_meta(target)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        staging.rmdir()
        shutil.copytree(target, staging)
        meta["metrics"] = {**meta.get("metrics", {}), **metrics}
        card = staging / MODEL_CARD_FILE
        card.write_text(render_model_card(meta), encoding="utf-8")
        meta["files"][MODEL_CARD_FILE] = sha256_file(card)
        (staging / BUNDLE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
