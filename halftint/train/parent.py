"""A run's parent bundle (`init_from`): starting weights, and the networks a run does not train.

`halftint train STAGE --init-from SRC` names a weights bundle (a folder, an embedded name or
`hf://...`). A stage that starts fresh in the run takes the starting weights of the networks it
trains from that bundle, where the bundle has them (a bundle usually lacks D and H: those start
fresh). A stage that needs a network no stage of the run has trained (the colorizer needs IHN)
takes it from the bundle, and `halftint train export` fills in the networks of the stages the run
did not train from it. So a user adapts the shipped model to their own archive with one stage,
and a run continues on another machine from its last exported bundle.

The bundle's preset must be the run's, and every network taken from it must have exactly the
config the run's preset gives that network; anything else is refused with one line, before the
run folder is touched. The exported bundle records its parent's name and sha256 (of the parent's
bundle.json, which lists the sha256 of every other file). The bundle is verified once, when it is
opened; loading its networks afterwards hashes nothing again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from halftint.bundle import Verified, verified
from halftint.checkpoint import load_bundle, read_network_config
from halftint.errors import Setting, UsageError, WeightsError
from halftint.hub import resolve_bundle
from halftint.nets import Preset


@dataclass(frozen=True)
class ParentBundle:
    """A verified bundle a run starts from.

    Attributes:
        source: the source as given (`--init-from`).
        manifest: its bundle.json, verified.
    """

    source: str
    manifest: Verified

    @property
    def path(self) -> Path:
        """The local bundle folder."""
        return self.manifest.folder

    @property
    def meta(self) -> dict[str, Any]:
        """Its bundle.json."""
        return self.manifest.meta

    @property
    def sha256(self) -> str:
        """sha256 of its bundle.json."""
        return self.manifest.sha256

    @property
    def name(self) -> str:
        return str(self.meta.get("name", self.path.name))

    def has(self, key: str) -> bool:
        """Whether the bundle holds the network `key`."""
        return key in self.meta["networks"]

    def load(self, keys: Iterable[str]) -> dict[str, nn.Module]:
        """The networks `keys` (float32, on the CPU); each must be in the bundle."""
        return dict(load_bundle(self.manifest, names=list(keys)).networks)

    def record(self) -> dict[str, str]:
        """What an exported bundle records of its parent."""
        return {"name": self.name, "sha256": self.sha256}


def open_parent(source: str, preset: Preset) -> ParentBundle:
    """Find, verify and check the bundle `source` against the run's preset.

    Raises:
        UsageError: unknown source, unreadable or tampered bundle, or another preset; one line
            each.
    """
    try:
        manifest = verified(resolve_bundle(source))
    except (WeightsError, UsageError) as error:
        raise UsageError("{setting} {source}: {error}", **_about(source), error=error) from None
    meta = manifest.meta
    if meta["preset"] != preset.name:
        raise UsageError(
            "{setting} {source}: the bundle is of preset {bundle!r}, the run of {run!r}; give a "
            "bundle of the same preset",
            **_about(source),
            bundle=meta["preset"],
            run=preset.name,
        )
    return ParentBundle(source, manifest)


def check_networks(parent: ParentBundle, preset: Preset, keys: Iterable[str]) -> None:
    """Refuse when a network the run would take from `parent` has another config than `preset`.

    Raises:
        UsageError: naming the first network whose config differs.
    """
    for key in keys:
        if not parent.has(key):
            continue
        try:
            _, stored = read_network_config(parent.path, key)
        except WeightsError as error:
            raise UsageError(
                "{setting} {source}: {error}", **_about(parent.source), error=error
            ) from None
        wanted = preset.config(key)
        known = {item.name for item in dataclasses.fields(wanted)}  # type: ignore[arg-type]
        values = {name: tuple(v) if isinstance(v, list) else v for name, v in stored.items()}
        try:
            same = not set(stored) - known and type(wanted)(**values) == wanted
        except (TypeError, ValueError):
            same = False
        if not same:
            raise UsageError(
                "{setting} {source}: its {key} network has another config than preset "
                "{preset}'s (the preset has changed since the bundle was made); train {key} "
                "from scratch instead ({fresh}), or, where the preset only added to it, grow the "
                "bundle's ({extend})",
                **_about(parent.source),
                key=key,
                preset=preset.name,
                fresh=Setting("init_fresh", [key]),
                extend=Setting("init_extend", [key]),
            )


def extend_network(
    network: nn.Module, source: dict[str, torch.Tensor], key: str, origin: str
) -> tuple[int, int]:
    """Copy every tensor of `source` (a smaller network's state dict) into `network` by name.

    Returns (tensors taken, tensors of `network` that `source` lacks and keep their values).

    Raises:
        UsageError: a tensor of `source` has no place in `network` (an unknown name or another
            shape), so `network` is no extension of it.
    """
    target = network.state_dict()
    for name, tensor in source.items():
        if name not in target or target[name].shape != tensor.shape:
            where = "is not in" if name not in target else "has another shape in"
            raise UsageError(
                "{setting} {source}: {key} is no extension of the bundle's ({name} {where} the "
                "preset's {key}); train it from scratch ({fresh})",
                **_about(origin),
                key=key,
                name=name,
                where=where,
                fresh=Setting("init_fresh", [key]),
            )
    network.load_state_dict({**target, **source})
    return len(source), len(target) - len(source)


def _about(source: str) -> dict[str, object]:
    """The fields of a message about the parent bundle: the setting and the source given."""
    return {"setting": Setting("init_from"), "source": source}
