"""A training run from start to end: settings, run folder, photos, hardware, stages, export.

This is what `halftint train ...` calls. Rules for an existing run folder:
- its `config.toml` is the starting point; `--config` and command-line settings go on top;
- a stage that already has a state there is continued only with `resume=True` (so a run is
  never continued, or overwritten, by accident); finished stages are skipped;
- a stage without a state takes the networks of earlier stages from the folder, so
  `train colorizer --out RUN` uses the IHN that `train ihn --out RUN` made.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from halftint.data import MAX_PHOTO_SIDE, data_label, load_photos, training_split
from halftint.devices import parse_device, resolve_device
from halftint.errors import Setting, UsageError
from halftint.nets import Preset
from halftint.train import ddp
from halftint.train.config import (
    STAGES,
    TrainConfig,
    apply,
    load_toml,
    resolve,
    result_changes,
    to_toml,
    training_preset,
)
from halftint.train.export import BUNDLE_STAGES, export_bundle
from halftint.train.loop import (
    Reporter,
    SilentReporter,
    StageOutcome,
    TrainingPhotos,
    read_status,
    run_stage,
)
from halftint.train.parent import ParentBundle, check_networks, open_parent
from halftint.train.registry import NETWORK_SOURCES, STAGE_CLASSES, frozen_source
from halftint.train.stage import Hardware
from halftint.train.state import RunFolder, StopRequest, write_text_atomic

# (settings nested as in config.toml, where they came from: for error messages)
Settings = tuple[dict[str, Any], str]
# the run folder, as messages name it
OUT = Setting("out")


def prepare(
    out: str | Path,
    stages: Sequence[str],
    *,
    config_file: str | None = None,
    overrides: Sequence[Settings] = (),
    resume: bool = False,
    allow_changes: bool = False,
) -> tuple[TrainConfig, Preset, RunFolder]:
    """Merge the settings and check them against the run folder; writes nothing.

    Raises:
        UsageError: bad settings, no data folder, an unknown preset, a preset that differs from
            the run's, or a stage with saved state and no `resume`, or a resumed run whose
            results the settings would change (seed, sizes, learning rates, losses, data
            mixture) without `allow_changes`.
    """
    run = RunFolder(Path(out))
    if run.root.exists() and not run.root.is_dir():
        raise UsageError(
            "{setting} {out} is a file; give a folder for the run", setting=OUT, out=out
        )
    _check_writable(run.root, out)
    states = {stage: run.state_path(stage).is_file() for stage in STAGES}
    layers = [(load_toml(config_file), config_file)] if config_file is not None else []
    layers += overrides
    if run.config_path.is_file():
        saved = apply(TrainConfig(), load_toml(run.config_path), str(run.config_path))
        config = _layered(saved, layers)
        if config.preset != saved.preset:
            if any(states.values()):
                raise UsageError(
                    "{out} was trained with preset {saved!r}; it cannot continue as {preset!r} "
                    "(choose another {setting})",
                    out=out,
                    saved=saved.preset,
                    preset=config.preset,
                    setting=OUT,
                )
            # nothing trained yet: the saved, resolved sizes belong to the other preset
            config = _layered(TrainConfig(), layers)
    else:
        config = _layered(TrainConfig(), layers)
    for stage in stages:
        if states[stage] and not resume:
            raise UsageError(
                "{out} already has a {stage} stage; pass {resume} to continue it, or choose "
                "another {setting}",
                out=out,
                stage=stage,
                resume=Setting("resume", True),
                setting=OUT,
            )
    if resume and run.config_path.is_file() and any(states[stage] for stage in stages):
        changes = result_changes(saved, config)
        if changes and not allow_changes:
            raise UsageError(
                "{resume} would change the results of {out}: {changes} (pass {allow} to "
                "continue with them, or choose another {setting})",
                resume=Setting("resume"),
                out=out,
                changes="; ".join(changes),
                allow=Setting("allow_changes", True),
                setting=OUT,
            )
    if not config.data:
        raise UsageError("no training photos: pass {data}", data=Setting("data", "FOLDER"))
    preset = training_preset(config.preset)
    parent = open_parent(config.init_from, preset) if config.init_from else None
    if parent is not None:
        fresh = [stage for stage in stages if not states[stage]]
        trained = {key for stage in fresh for key in STAGE_CLASSES[stage].trained}
        check_networks(parent, preset, trained - set(config.init_fresh) - set(config.init_extend))
    _check_earlier_stages(stages, states, config, run, parent=parent, preset=preset)
    return resolve(config, preset.working_size), preset, run


def _check_writable(root: Path, out: str | Path) -> None:
    """The run folder can be made: its nearest existing parent is a folder we may write in."""
    existing = root.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            "{setting} {out}: {existing} is a file, not a folder",
            setting=OUT,
            out=out,
            existing=existing,
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            "{setting} {out}: no permission to write in {existing}",
            setting=OUT,
            out=out,
            existing=existing,
        )


def _layered(base: TrainConfig, layers: Sequence[Settings]) -> TrainConfig:
    for settings, origin in layers:
        base = apply(base, settings, origin)
    return base


def _check_earlier_stages(
    stages: Sequence[str],
    states: dict[str, bool],
    config: TrainConfig,
    run: RunFolder,
    *,
    parent: ParentBundle | None,
    preset: Preset,
) -> None:
    """Every network a stage takes from an earlier stage is there, or is trained before it, or
    comes from the parent bundle."""
    available = {stage for stage, present in states.items() if present}
    for stage in stages:
        for key in STAGE_CLASSES[stage].needed_frozen(config):
            in_run = NETWORK_SOURCES[key] in available
            in_parent = parent is not None and parent.has(key)
            where = frozen_source(stage, key, in_run=in_run, in_parent=in_parent, run_root=run.root)
            if where == "parent":
                assert parent is not None
                check_networks(parent, preset, [key])
        available.add(stage)


def load_training_photos(config: TrainConfig, reporter: Reporter) -> TrainingPhotos:
    """Find, split and decode the photos once (every stage of the run samples from them).

    Raises:
        UsageError: the data folder is missing or empty, or none of its photos can be read.
    """
    train_paths, val_paths = training_split(config.data, config.val_data, config.val_fraction)
    reporter.note(f"decoding {len(train_paths)} training and {len(val_paths)} validation photos")
    train = load_photos(train_paths, MAX_PHOTO_SIDE)
    val = load_photos(val_paths, MAX_PHOTO_SIDE)
    for path, reason in [*train.skipped, *val.skipped]:
        reporter.note(f"warning: skipped {path}: {reason}")
    if train.skipped or val.skipped:
        reporter.note(
            f"warning: {len(train.skipped) + len(val.skipped)} unreadable photo(s) skipped"
        )
    if not train.images:
        raise UsageError(f"none of the {len(train_paths)} photos in {config.data} could be read")
    source = data_label(config.data)
    source += " (hashed split)" if not config.val_data else ""
    description = f"{_photos(len(train.images))} from {source}"
    if val.images:
        description += f"; {_photos(len(val.images))} for validation"
        if config.val_data:
            description += f" from {data_label(config.val_data)}"
    return TrainingPhotos(train=train, val=val, description=description)


def _photos(count: int) -> str:
    return f"{count} photo" if count == 1 else f"{count} photos"


def make_hardware(config: TrainConfig, distributed: ddp.Distributed) -> Hardware:
    """Device, precision and threads for this process.

    Raises:
        UsageError: a CUDA device was asked for and is not there, or an unknown device name.
    """
    # a bare "cuda" (or "auto" on CUDA) is each process's own GPU under torchrun
    device = resolve_device(config.device, cuda_index=distributed.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    precision = config.precision
    if precision == "auto":
        # bf16 autocast pays on GPUs with bf16 tensor cores; on the CPU float32 is as fast or
        # faster for these small convolutions and keeps runs exactly reproducible
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        precision = "bf16" if cuda_bf16 else "fp32"
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(config.threads, distributed.world_size))
    return Hardware(
        device=device,
        autocast_dtype=torch.bfloat16 if precision == "bf16" else None,
        # channels-last convolutions measured 10-30 % faster on the CPU too (lite, 1 thread)
        channels_last=True,
        distributed=distributed,
    )


def cpu_threads(setting: int, world_size: int) -> int:
    """Threads per process for CPU training: `setting`, else OMP_NUM_THREADS, else idle cores.

    "Idle" is judged once, at start, from the one-minute load average. OpenMP threads that have
    to wait for a core another program holds slow every step down several times (measured: a
    lite colorizer step took 6 s with 2 threads on 2 shared cores against 1 s with 1 thread), so
    a busy machine gets fewer threads; an idle one gets all its cores, shared among processes.
    """
    if setting > 0:
        return setting
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, (cores - min(busy, cores - 1)) // world_size)


def train(
    stages: Sequence[str],
    out: str | Path,
    *,
    config_file: str | None = None,
    overrides: Sequence[Settings] = (),
    resume: bool = False,
    allow_changes: bool = False,
    reporter: Reporter | None = None,
) -> list[StageOutcome]:
    """Train `stages` in order into the run folder `out`, then export the bundle if complete.

    Under `torchrun` every process calls this; they share the work and only rank 0 writes.

    Returns:
        One outcome per stage trained (or found finished); a stop request ends the list early.
    """
    config, preset, run = prepare(
        out,
        stages,
        config_file=config_file,
        overrides=overrides,
        resume=resume,
        allow_changes=allow_changes,
    )
    persisted = _without_one_off_limits(config, run)
    kind, _ = parse_device(config.device)
    wants_cuda = kind == "cuda" or (kind == "auto" and torch.cuda.is_available())
    distributed = ddp.start("cuda" if wants_cuda else "cpu")
    try:
        main = reporter if reporter is not None and distributed.is_main else SilentReporter()
        hardware = make_hardware(config, distributed)
        photos = load_training_photos(config, main)
        main.note(_describe(hardware))
        ddp.barrier(distributed)  # every process has checked the folder before rank 0 writes
        if distributed.is_main:
            try:
                write_text_atomic(run.config_path, to_toml(persisted))
            except OSError as error:
                raise UsageError(
                    f"cannot write the run folder {out}: {error.strerror or error}"
                ) from None
        outcomes: list[StageOutcome] = []
        with StopRequest() as stop:
            for stage in stages:
                outcome = run_stage(
                    stage,
                    config,
                    preset,
                    run,
                    photos=photos,
                    hardware=hardware,
                    reporter=main,
                    stop=stop,
                )
                outcomes.append(outcome)
                if not outcome.finished:
                    break
        if distributed.is_main and _complete(run):
            path = export_bundle(run, config, preset)
            main.note(f"exported the weights bundle to {path}")
        return outcomes
    finally:
        ddp.stop(distributed)


def _without_one_off_limits(config: TrainConfig, run: RunFolder) -> TrainConfig:
    """What config.toml keeps: a time limit given to continue a stage that had started is for
    this call only (else a later plain --resume would take it for the run's own and stop)."""
    if not run.config_path.is_file():
        return config
    saved = apply(TrainConfig(), load_toml(run.config_path), str(run.config_path))
    kept = dataclasses.replace(config)
    for stage in STAGES:
        if run.state_path(stage).is_file():
            schedule = dataclasses.replace(config.schedule(stage))
            schedule.minutes = saved.schedule(stage).minutes
            setattr(kept, stage, schedule)
    return kept


def _describe(hardware: Hardware) -> str:
    where = f"training on {hardware.device}"
    if hardware.device.type == "cpu":
        where += f" with {torch.get_num_threads()} thread(s)"
    precision = "bf16 autocast" if hardware.autocast_dtype is not None else "float32"
    processes = hardware.distributed.world_size
    return f"{where}, {precision}" + (f", {processes} processes" if processes > 1 else "")


def _complete(run: RunFolder) -> bool:
    for stage in BUNDLE_STAGES:
        status = read_status(run, stage)
        if status is None or not status["finished"]:
            return False
    return True
