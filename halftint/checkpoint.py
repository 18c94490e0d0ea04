"""Weights bundles' networks: saving them (torch, safetensors) and loading them, verified.

The format itself (bundle.json, the files it lists, their sha256, the model card) is
`halftint.bundle`'s. Loading verifies every sha256 once (`bundle.verified`: a manifest that is
already verified is not hashed again), builds each network from its config.json (never from
tensor shapes) and loads its weights strictly. Saving writes into a temporary folder beside the
target and renames it into place, so a crash never leaves half a bundle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from halftint._version import __version__
from halftint.bundle import (
    CONFIG_FILE,
    FORMAT_VERSION,
    MANIFEST,
    MODEL_CARD_FILE,
    REQUIRED_NETWORKS,
    WEIGHTS_FILE,
    Manifest,
    hash_files,
    render_model_card,
    reverse_halftone_method,
    sha256_file,
    verified,
    write_manifest,
)
from halftint.errors import WeightsError
from halftint.nets.presets import NETWORK_CLASSES

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


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

    @property
    def reverse_halftone(self) -> str:
        """The halftone method re-made halftones use (`bundle.reverse_halftone_method`)."""
        return reverse_halftone_method(self.meta)


def count_parameters(network: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BatchNorm statistics excluded)."""
    return sum(parameter.numel() for parameter in network.parameters())


def network_config_dict(network: nn.Module) -> dict[str, Any]:
    """A network's dataclass config as a JSON-ready dict."""
    config = getattr(network, "config", None)
    if config is None or not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"{type(network).__name__} has no dataclass `config` attribute")
    return dataclasses.asdict(config)


def build_network(
    key: str, config: dict[str, Any], class_name: str | None = None, *, initialise: bool = True
) -> nn.Module:
    """Build the network `key` ("ihn", ...) from a config dict as stored in config.json.

    With `initialise=False` the parameters are left as allocated (their values are garbage)
    instead of drawn at random: for a network whose every saved tensor is loaded next, which
    strict loading checks (the paper preset's 72 M random draws cost 0.36 s a load).

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
        with contextlib.nullcontext() if initialise else _no_random_init():
            return module_class(config_class(**values))
    except (TypeError, ValueError) as error:
        raise WeightsError(f"{key} config is invalid: {error}") from error


# the torch.nn.init functions layers draw their starting weights with
_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
    "xavier_uniform_", "xavier_normal_", "orthogonal_", "constant_", "ones_", "zeros_",
)  # fmt: skip


@contextlib.contextmanager
def _no_random_init() -> Iterator[None]:
    """torch.nn.init's functions as no-ops while networks are built (not thread-safe: loading
    builds networks one at a time)."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    try:
        for name in _INIT_FUNCTIONS:
            setattr(nn.init, name, _keep)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _keep(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


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
    reverse_halftone: str | None = None,
    photo_spreads: Sequence[tuple[float, float]] | None = None,
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
        reverse_halftone: the halftone method the colorizer re-makes halftones with (default:
            the first of `halftone_methods`, see `bundle.reverse_halftone_method`).
        photo_spreads: the training photos' chroma spreads (see `bundle.photo_spreads`), if
            known: random colorings take theirs from them.

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
            "format_version": FORMAT_VERSION,
            "name": name or target.name,
            "preset": preset,
            "working_size": int(working_size),
            "halftone_methods": list(halftone_methods),
            "reverse_halftone": reverse_halftone
            or reverse_halftone_method({"halftone_methods": halftone_methods}),
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
        if photo_spreads:
            meta["photo_spreads"] = [[round(float(x), 5) for x in pair] for pair in photo_spreads]
        (staging / MODEL_CARD_FILE).write_text(render_model_card(meta), encoding="utf-8")
        meta["files"] = hash_files(staging)
        write_manifest(staging, meta)
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
    if not target.is_dir() or not ((target / MANIFEST).is_file() or not any(target.iterdir())):
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
        "format_version": FORMAT_VERSION,
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


def load_bundle(
    source: str | os.PathLike[str] | Manifest,
    *,
    device: str | torch.device = "cpu",
    names: Iterable[str] | None = None,
) -> Bundle:
    """Verify and load a bundle; networks come back float32, in eval mode, on `device`.

    Args:
        source: the bundle folder, or its manifest (`bundle.read_manifest`, `hub.resolve_bundle`);
            a `bundle.Verified` one is not hashed again.
        device: where the networks go.
        names: the networks to load (default: every network in the bundle).

    Raises:
        WeightsError: verification fails, a requested network is absent, a config is invalid,
            or the weights do not fit the network (missing / unexpected keys, wrong shapes).
    """
    manifest = verified(source)
    root, meta = manifest.folder, manifest.meta
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
        version = config_doc.get("format_version", FORMAT_VERSION)
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
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise WeightsError(f"{config_path} was written by a newer halftint; upgrade halftint")
    return class_name, config


def _load_network(root: Path, key: str) -> nn.Module:
    class_name, config = read_network_config(root, key)
    # every saved tensor is loaded below (strictly), so random starting weights would be wasted
    network = build_network(key, config, class_name, initialise=False)
    weights_path = root / key / WEIGHTS_FILE
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{weights_path} is not a readable safetensors file: {error}") from error
    load_strict(network, tensors, weights_path)
    return network


def state_mismatch(network: nn.Module, tensors: dict[str, torch.Tensor]) -> str | None:
    """How `tensors` fail to fit `network` (missing or extra keys, a shape), or None if they fit."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_describe_keys(missing, set(tensors))}")
        if unexpected:
            parts.append(f"unexpected keys: {_describe_keys(unexpected, set(expected))}")
        return "; ".join(parts)
    for name, reference in expected.items():
        if tensors[name].shape != reference.shape:
            return (
                f"{name} has shape {tuple(tensors[name].shape)}, the config needs "
                f"{tuple(reference.shape)}"
            )
    return None


def load_strict(network: nn.Module, tensors: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load `tensors` into `network`, every key and shape matching.

    Raises:
        WeightsError: a key is missing or extra, or a shape differs (named in one line).
    """
    problem = state_mismatch(network, tensors)
    if problem is not None:
        raise WeightsError(f"{source} does not fit its config ({problem})")
    # load_state_dict copies into the float32 parameters, casting half-precision storage back
    network.load_state_dict(tensors, strict=True)


def _describe_keys(keys: list[str], other_side: set[str]) -> str:
    """Up to five keys by name; a submodule the other side has nothing of as one "name.*" entry
    (so a bundle lacking, e.g., G's whole semantic encoder says so in a few words)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split(".", 1)[0], []).append(key)
    whole = {
        part: len(members)
        for part, members in groups.items()
        if len(members) > 1 and not any(other.startswith(part + ".") for other in other_side)
    }
    named = [key for part, members in groups.items() if part not in whole for key in members]
    items = [f"all of {part}.* ({count} tensors)" for part, count in whole.items()]
    items += named[:5]
    return ", ".join(items) + (" ..." if len(named) > 5 else "")


def record_metrics(folder: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Merge `metrics` into a local bundle's `metrics` and regenerate its model card.

    The bundle is verified first and rewritten like `save_bundle` writes one: a copy is changed
    and renamed into place, so the folder is always a complete, verifiable bundle.

    Raises:
        WeightsError: `folder` is not a bundle, or one of its files fails verification.
    """
    target = Path(folder)
    manifest = verified(target)
    meta = {**manifest.meta, "files": dict(manifest.files)}
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
        write_manifest(staging, meta)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
