"""Export a training run's networks as a weights bundle (`halftint.checkpoint` format).

The bundle takes each network from the state of the stage that trained it (or, for stages the
run did not train, from its parent bundle, `init_from`), records the preset,
the working size, the halftone methods (most used first), the method the colorizer re-makes
halftones with (`reverse_halftone`: the most used), the data, the training photos' chroma
spreads (`photo_spreads`, what random colorings take theirs from) and the last validation
metrics of every stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from halftint.bundle import REQUIRED_NETWORKS, photo_spreads
from halftint.checkpoint import save_bundle
from halftint.data import chroma_spreads, data_label, load_photos, training_split
from halftint.errors import Setting, UsageError
from halftint.nets import Preset, build_networks
from halftint.train.config import (
    STAGES,
    TrainConfig,
    apply,
    load_toml,
    resolve,
    training_preset,
)
from halftint.train.parent import ParentBundle, check_networks, open_parent
from halftint.train.registry import NETWORK_SOURCES
from halftint.train.state import MetricsLog, RunFolder, load_networks, load_state

# the stages whose networks every bundle needs (IHN; E and G; F)
BUNDLE_STAGES = ("ihn", "colorizer", "fusion")


def export_bundle(
    run: RunFolder,
    config: TrainConfig,
    preset: Preset,
    *,
    destination: Path | None = None,
    include_training_networks: bool = False,
    overwrite: bool = True,
    parent: ParentBundle | None = None,
    screen_periods: tuple[float, float] | None = None,
) -> Path:
    """Write the run's bundle to `destination` (default `RUN/bundle`) and return its path.

    Args:
        run: the run folder.
        config: the run's resolved settings.
        preset: the run's preset.
        destination: where the bundle goes.
        include_training_networks: also store D and H (only needed to train further), those
            that the run or the parent has.
        overwrite: replace an existing bundle there.
        parent: where the networks of the stages the run lacks come from.
        screen_periods: the periods screen analysis brings prints into (default: IHN's
            training range, or the parent's when IHN is the parent's).

    Raises:
        UsageError: a stage the bundle needs has no state in the run folder (and no parent).
    """
    names = list(REQUIRED_NETWORKS)
    states: dict[str, dict[str, Any]] = {}
    inherited: list[str] = []
    for stage in BUNDLE_STAGES:
        state = load_state(run.state_path(stage))
        if state is None and parent is not None:
            keys = [key for key in REQUIRED_NETWORKS if NETWORK_SOURCES[key] == stage]
            check_networks(parent, preset, keys)
            inherited += keys
            continue
        if state is None:
            raise UsageError(
                "{root} has no {stage} stage yet; a bundle needs the stages {stages} (train "
                "them with 'halftint train all', or take the others from a bundle with {parent})",
                root=run.root,
                stage=stage,
                stages=", ".join(BUNDLE_STAGES),
                parent=Setting("init_from"),
            )
        states[stage] = state
    if include_training_networks:
        # D and H from the run's stages when it has them, else from the parent if it has them
        for name in ("discriminator", "histogram"):
            stage = NETWORK_SOURCES[name]
            state = states.get(stage) or load_state(run.state_path(stage))
            if state is not None:
                states[stage] = state
                names.append(name)
            elif parent is not None and parent.has(name):
                check_networks(parent, preset, [name])
                names.append(name)
                inherited.append(name)
    networks = build_networks(preset, names)
    for name in networks:
        if name not in inherited:
            stage = NETWORK_SOURCES[name]
            load_networks(networks, states[stage], [name], run.state_path(stage))
    if parent is not None and inherited:
        for name, network in parent.load(inherited).items():
            networks[name].load_state_dict(network.state_dict())
    mixture = config.halftone.mixture
    methods = sorted(
        (method for method in mixture if mixture[method] > 0), key=lambda m: -mixture[m]
    )
    return save_bundle(
        destination if destination is not None else run.bundle_path,
        networks,
        preset=preset.name,
        working_size=config.crop_size,
        halftone_methods=methods,
        reverse_halftone=max(methods, key=lambda m: mixture[m]),
        data=_data_description(states, config, parent, inherited),
        metrics=validation_metrics(run),
        # named after its folder when exported elsewhere, else after the run
        name=(
            destination.name
            if destination is not None and destination != run.bundle_path
            else run.root.resolve().name
        ),
        overwrite=overwrite,
        parent=parent.record() if parent is not None else None,
        screen_periods=screen_periods or _screen_periods(config, parent, inherited),
        photo_spreads=_photo_spreads(config, parent, inherited),
    )


def _screen_periods(
    config: TrainConfig, parent: ParentBundle | None, inherited: list[str]
) -> tuple[float, float] | None:
    """The periods IHN was trained on: the run's mixture, or the parent's when IHN is its."""
    if parent is not None and "ihn" in inherited:
        periods = parent.meta.get("screen_periods")
        return (float(periods[0]), float(periods[1])) if periods else None
    low, high = config.halftone.clustered_period
    return (low, high)


def _photo_spreads(
    config: TrainConfig, parent: ParentBundle | None, inherited: list[str]
) -> list[tuple[float, float]]:
    """The training photos' chroma spreads (`bundle.photo_spreads`): of the run's photos when
    it trained G, else the parent's (none when its photos are no longer where they were)."""
    if parent is not None and "generator" in inherited:
        return photo_spreads(parent.meta)
    try:
        paths, _ = training_split(config.data, config.val_data, config.val_fraction)
    except UsageError:
        return []
    # decoded a few times larger than needed (then shrunk exactly): memory stays small
    photos = load_photos(paths, 4 * config.crop_size).images
    return chroma_spreads(photos, config.crop_size)


def _data_description(
    states: dict[str, dict[str, Any]],
    config: TrainConfig,
    parent: ParentBundle | None,
    inherited: list[str],
) -> str:
    trained = next((str(state["data"]) for state in states.values() if "data" in state), "")
    text = trained or data_label(config.data)
    if parent is not None and inherited:
        # the parent's own data description is not repeated: older bundles hold absolute paths
        text += f"; {', '.join(inherited)} from the bundle {parent.name} (sha256 in 'parent')"
    return text


def validation_metrics(run: RunFolder) -> dict[str, dict[str, float]]:
    """The last validation metrics each stage logged, keyed by stage."""
    metrics: dict[str, dict[str, float]] = {}
    for stage in STAGES:
        records = [
            record for record in MetricsLog(run.metrics_path(stage)).records() if "val" in record
        ]
        if records:
            metrics[stage] = {"step": records[-1]["step"], **records[-1]["val"]}
    return metrics


def export_run(
    out: str | Path,
    destination: str | Path | None = None,
    *,
    include_training_networks: bool = False,
    overwrite: bool = False,
    init_from: str | None = None,
    screen_periods: tuple[float, float] | None = None,
) -> Path:
    """`halftint train export`: the bundle of an existing run folder.

    `init_from` (default: the run's own) supplies the networks of the stages the run lacks.

    Raises:
        UsageError: `out` is not a run folder, or misses a stage (see `export_bundle`).
    """
    run = RunFolder(Path(out))
    if not run.config_path.is_file():
        raise UsageError(f"{out} is not a training run folder (no config.toml)")
    target = Path(destination) if destination is not None else run.bundle_path
    if target.exists() and destination is not None and not overwrite:
        raise UsageError(
            "{target} exists (use {overwrite} to replace it)",
            target=target,
            overwrite=Setting("overwrite", True),
        )
    config = apply(TrainConfig(), load_toml(run.config_path), str(run.config_path))
    preset = training_preset(config.preset)
    source = init_from if init_from is not None else config.init_from
    return export_bundle(
        run,
        resolve(config, preset.working_size),
        preset,
        destination=target,
        include_training_networks=include_training_networks,
        overwrite=True,
        parent=open_parent(source, preset) if source else None,
        screen_periods=screen_periods,
    )
