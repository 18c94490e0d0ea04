"""The training loop of one stage: data, steps, logging, contact sheets, checkpoints, stopping.

Resuming is exact: the loop reseeds torch's random generator from (seed, stage, step, rank)
before every step, samples are a pure function of their number (`halftint.data`), and the state
file holds the networks, the optimizers, the step and the number of samples seen. On the CPU a
run stopped after k steps and resumed ends with the same weights as one never stopped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

from halftint.data import PhotoCache, PhotoSamples, SampleMaker, StreamBatchSampler
from halftint.errors import UsageError
from halftint.io import write_image
from halftint.nets import Preset, build_networks
from halftint.train import ddp
from halftint.train.colorizer_stage import ColorizerStage
from halftint.train.config import STAGES, TrainConfig, lr_factor, stage_progress
from halftint.train.fusion_stage import FusionStage
from halftint.train.hist_stage import HistogramStage
from halftint.train.ihn_stage import IHNStage
from halftint.train.parent import ParentBundle, extend_network, open_parent
from halftint.train.pretrained import load_semantic_weights
from halftint.train.sheets import contact_sheet
from halftint.train.stage import Hardware, Stage
from halftint.train.state import (
    MetricsLog,
    RunFolder,
    StopRequest,
    load_state,
    save_state,
    write_text_atomic,
)

STAGE_CLASSES: dict[str, type[Stage]] = {
    "ihn": IHNStage,
    "hist": HistogramStage,
    "colorizer": ColorizerStage,
    "fusion": FusionStage,
}
# which stage trains each network: a later stage takes it from that stage's state file
NETWORK_SOURCES = {
    "ihn": "ihn",
    "histogram": "hist",
    "encoder": "colorizer",
    "generator": "colorizer",
    "discriminator": "colorizer",
    "fusion": "fusion",
}
# epochs of a small photo folder last seconds: saving at each would write more than it trains
EPOCH_SAVE_MIN_SECONDS = 60.0
# the data stream of validation samples, apart from the four stages' streams (0-3)
_VAL_STREAM = 99


class Reporter(Protocol):
    """Where the loop reports progress (the CLI draws a progress bar; tests stay quiet)."""

    def note(self, message: str) -> None: ...

    def stage_started(self, stage: str, step: int, total: int) -> None: ...

    def step_done(self, step: int, losses: dict[str, float], images_per_second: float) -> None: ...

    def stage_ended(self) -> None: ...


class SilentReporter:
    """A reporter that says nothing (non-main processes, tests)."""

    def note(self, message: str) -> None:
        del message

    def stage_started(self, stage: str, step: int, total: int) -> None:
        del stage, step, total

    def step_done(self, step: int, losses: dict[str, float], images_per_second: float) -> None:
        del step, losses, images_per_second

    def stage_ended(self) -> None:
        pass


@dataclass
class TrainingPhotos:
    """The decoded photos of a run: training split, validation split, and what they are."""

    train: PhotoCache
    val: PhotoCache
    description: str


@dataclass
class StageOutcome:
    """How a stage call ended: at `step` of `total`; `finished` or `stopped` early (by the
    signal named in `signal`, e.g. "SIGTERM", when one stopped it)."""

    stage: str
    step: int
    total: int
    finished: bool
    stopped: bool
    signal: str = ""


def step_seed(seed: int, stage: str, step: int, rank: int) -> int:
    """The seed torch's generator gets before `step` of `stage` on process `rank`."""
    return _derived_seed(seed, STAGES.index(stage), 0, step, rank)


def init_seed(seed: int, stage: str) -> int:
    """The seed of a stage's freshly initialised networks (the same on every process)."""
    return _derived_seed(seed, STAGES.index(stage), 1)


def _derived_seed(*parts: int) -> int:
    sequence = np.random.SeedSequence(list(parts))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> 1)


def is_finished(state: dict[str, Any] | None, config: TrainConfig, stage: str, photos: int) -> bool:
    """Whether a saved state has reached its stage's step count or time limit."""
    if state is None:
        return False
    minutes = config.schedule(stage).minutes
    out_of_time = minutes > 0 and state["elapsed_seconds"] >= minutes * 60
    return state["step"] >= config.total_steps(stage, photos) or out_of_time


def run_stage(
    stage_name: str,
    config: TrainConfig,
    preset: Preset,
    run: RunFolder,
    *,
    photos: TrainingPhotos,
    hardware: Hardware,
    reporter: Reporter,
    stop: StopRequest,
) -> StageOutcome:
    """Train one stage, continuing its saved state in `run` if there is one.

    Raises:
        UsageError: a network this stage needs from an earlier stage is not in the run folder.
    """
    distributed = hardware.distributed
    stage_class = STAGE_CLASSES[stage_name]
    torch.manual_seed(init_seed(config.seed, stage_name))
    networks = build_networks(preset, stage_class.trained)
    parent = open_parent(config.init_from, preset) if config.init_from else None
    state = load_state(run.state_path(stage_name))
    if state is None:
        _initialise(
            stage_name, stage_class.trained, networks, config, parent=parent, reporter=reporter
        )
    networks.update(_frozen_networks(stage_class, config, preset, run, reporter, parent=parent))
    stage = stage_class(networks, config, hardware)
    step, samples_seen, elapsed = 0, 0, 0.0
    if state is not None:
        stage.load_state_dict(state)
        step, samples_seen, elapsed = state["step"], state["samples_seen"], state["elapsed_seconds"]
    schedule = config.schedule(stage_name)
    train_count = len(photos.train.images)
    total = config.total_steps(stage_name, train_count)
    if schedule.batch_size % distributed.world_size:
        raise UsageError(
            f"{stage_name}.batch_size {schedule.batch_size} must be a multiple of the number of "
            f"processes ({distributed.world_size})"
        )
    log = MetricsLog(run.metrics_path(stage_name))
    if distributed.is_main:
        log.truncate_after(step)
    if is_finished(state, config, stage_name, train_count):
        reporter.note(f"{stage_name}: already finished (step {step} of {total}), skipped")
        return StageOutcome(stage_name, step, total, finished=True, stopped=False)
    reporter.stage_started(stage_name, step, total)

    maker = SampleMaker(
        schedule.crop_size,
        config.rescale,
        config.halftone,
        config.reference,
        stage_class.fields,
        view_side=0 if schedule.native else config.cache_long_side,
    )
    dataset = PhotoSamples(photos.train.images, maker, config.seed, STAGES.index(stage_name))
    sampler = StreamBatchSampler(
        samples_seen, total - step, schedule.batch_size, distributed.rank, distributed.world_size
    )
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=_workers(config, hardware),
        pin_memory=hardware.device.type == "cuda",
        worker_init_fn=_leave_stopping_to_the_main_process,
    )
    val_batches = _validation_batches(photos, maker, config) if distributed.is_main else []

    interval: list[dict[str, float]] = []
    interval_start = tick = time.perf_counter()
    last_save = time.monotonic()
    stopped = interrupted = out_of_time = False
    for batch in loader:
        torch.manual_seed(step_seed(config.seed, stage_name, step, distributed.rank))
        progress = stage_progress(config, stage_name, step, elapsed, train_count)
        stage.scale_lr(lr_factor(progress, schedule.lr_decay))
        losses = stage.train_step(hardware.prepare(batch))
        step += 1
        epoch_before = samples_seen // train_count
        samples_seen += schedule.batch_size
        # wall time, waiting for data included: what a time budget is about
        now = time.perf_counter()
        elapsed, tick = elapsed + now - tick, now
        interval.append(losses)
        rate = schedule.batch_size * len(interval) / max(time.perf_counter() - interval_start, 1e-9)
        reporter.step_done(step, losses, rate)
        last = step >= total
        if step % config.log_every == 0 or last:
            averaged = {name: float(np.mean([item[name] for item in interval])) for name in losses}
            averaged = ddp.mean_over_processes(distributed, averaged)
            if distributed.is_main:
                epoch = samples_seen / train_count
                log.append(
                    _record(
                        step,
                        epoch=epoch,
                        lr=stage.current_lr,
                        rate=rate,
                        elapsed=elapsed,
                        losses=averaged,
                    )
                )
            interval, interval_start = [], time.perf_counter()
        if distributed.is_main and (step % config.sample_every == 0 or last):
            metrics = _preview(
                stage, val_batches, hardware=hardware, run=run, config=config, step=step
            )
            log.append({"step": step, "val": metrics})
        # one decision for all processes, or they would wait for each other forever
        interrupted, out_of_time = ddp.any_process(
            distributed, [stop.requested, schedule.minutes > 0 and elapsed >= schedule.minutes * 60]
        )
        stopped = (interrupted or out_of_time) and not last
        due = (
            step % config.checkpoint_every == 0
            or time.monotonic() - last_save >= config.checkpoint_minutes * 60
            or (
                samples_seen // train_count != epoch_before
                and time.monotonic() - last_save >= EPOCH_SAVE_MIN_SECONDS
            )
        )
        if distributed.is_main and (due or stopped or last):
            finished = last or out_of_time
            _save(
                run,
                stage,
                photos=photos,
                step=step,
                total=total,
                samples_seen=samples_seen,
                elapsed=elapsed,
                finished=finished,
            )
            last_save = time.monotonic()
        if stopped:
            if interrupted:
                reporter.note(
                    f"{stage_name}: stopped at step {step} ({stop.reason}); state saved, "
                    "continue with --resume"
                )
            else:
                reporter.note(f"{stage_name}: time limit reached at step {step} of {total}")
            break
    ddp.barrier(distributed)
    reporter.stage_ended()
    finished = step >= total or out_of_time
    stopped_by_request = stopped and interrupted
    return StageOutcome(
        stage_name,
        step,
        total,
        finished,
        stopped_by_request,
        signal=stop.reason if stopped_by_request and stop.reason.startswith("SIG") else "",
    )


def _initialise(
    stage_name: str,
    trained: Sequence[str],
    networks: dict[str, torch.nn.Module],
    config: TrainConfig,
    *,
    parent: ParentBundle | None,
    reporter: Reporter,
) -> None:
    """A new stage's weights: the parent bundle's (whole, or extended), pretrained, or fresh."""
    inherited: list[str] = []
    extended: list[str] = []
    if parent is not None:
        present = [key for key in trained if parent.has(key) and key not in config.init_fresh]
        inherited = [key for key in present if key not in config.init_extend]
        extended = [key for key in present if key in config.init_extend]
    # pretrained parts first: an extended network's bundle tensors then go on top of them
    not_inherited = [key for key in trained if key not in inherited]
    for key in load_semantic_weights(networks, not_inherited, config.semantic_weights):
        reporter.note(f"{stage_name}: {key}'s semantic encoder starts from ImageNet weights")
    if parent is None:
        return
    for key, network in parent.load(inherited).items():
        networks[key].load_state_dict(network.state_dict())
    if inherited:
        reporter.note(
            f"{stage_name}: starting {', '.join(inherited)} from the bundle {parent.name}"
        )
    for key, network in parent.load(extended).items():
        taken, new = extend_network(networks[key], network.state_dict(), key, parent.source)
        reporter.note(
            f"{stage_name}: {key} extended from the bundle {parent.name}: {taken} tensors taken, "
            f"{new} new"
        )


def _frozen_networks(
    stage_class: type[Stage],
    config: TrainConfig,
    preset: Preset,
    run: RunFolder,
    reporter: Reporter,
    *,
    parent: ParentBundle | None,
) -> dict[str, torch.nn.Module]:
    needed = stage_class.needed_frozen(config)
    networks = build_networks(preset, needed)
    for key in needed:
        source = NETWORK_SOURCES[key]
        state = load_state(run.state_path(source))
        if state is None and parent is not None and parent.has(key):
            networks[key].load_state_dict(parent.load([key])[key].state_dict())
            reporter.note(f"{stage_class.name}: using {key} from the bundle {parent.name}")
            continue
        if state is None:
            raise UsageError(
                f"stage {stage_class.name} needs the network {key} from stage {source}, which "
                f"{run.root} does not have yet: run 'halftint train {source} --out {run.root}' "
                "first"
            )
        networks[key].load_state_dict(state["networks"][key])
        if not state["finished"]:
            reporter.note(
                f"note: using {key} from the unfinished {source} stage (step {state['step']} of "
                f"{state['total_steps']})"
            )
    return networks


def _leave_stopping_to_the_main_process(worker_id: int) -> None:
    """Data loader workers ignore SIGTERM and SIGINT.

    `kill` of the whole process group (`pkill -f`, a job scheduler, Ctrl-C) reaches the workers
    too; torch's workers would die of it and the main process fail with "DataLoader worker
    exited unexpectedly" before it saves. Ignoring the signal there lets the main process save,
    then shut its workers down itself (they also exit when it dies).
    """
    del worker_id
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _workers(config: TrainConfig, hardware: Hardware) -> int:
    if config.workers >= 0:
        return config.workers
    cores = os.cpu_count() or 1
    if hardware.device.type == "cuda":
        return min(8, max(1, cores // hardware.distributed.world_size - 1))
    # on the CPU the training step itself wants the cores; one worker makes the next batch
    # while a step runs, which is all the data side needs (see benchmarks/train.py)
    return 1 if cores >= 2 else 0


def _validation_batches(
    photos: TrainingPhotos, maker: SampleMaker, config: TrainConfig
) -> list[dict[str, torch.Tensor]]:
    source = photos.val.images or photos.train.images
    samples = [
        maker(source[index % len(source)], np.random.default_rng([config.seed, _VAL_STREAM, index]))
        for index in range(max(config.val_images, config.sample_count))
    ]
    size = config.sample_count
    return [
        default_collate(samples[start : start + size]) for start in range(0, len(samples), size)
    ]


def _preview(
    stage: Stage,
    batches: Sequence[dict[str, torch.Tensor]],
    *,
    hardware: Hardware,
    run: RunFolder,
    config: TrainConfig,
    step: int,
) -> dict[str, float]:
    totals: dict[str, float] = {}
    count = 0
    for index, batch in enumerate(batches):
        preview = stage.preview(hardware.prepare(batch))
        size = next(iter(preview.columns.values())).shape[0]
        for name, value in preview.metrics.items():
            totals[name] = totals.get(name, 0.0) + value * size
        count += size
        if index == 0:
            sheet = contact_sheet(preview.columns, config.sample_count)
            write_image(
                sheet, run.samples_path(stage.name) / f"step_{step:07d}.png", overwrite=True
            )
    return {name: value / count for name, value in totals.items()}


def _record(
    step: int, *, epoch: float, lr: float, rate: float, elapsed: float, losses: dict[str, float]
) -> dict[str, Any]:
    return {
        "step": step,
        "epoch": round(epoch, 4),
        "lr": lr,
        "images_per_s": round(rate, 3),
        "elapsed_s": round(elapsed, 2),
        "losses": {
            name: value if math.isfinite(value) else str(value) for name, value in losses.items()
        },
    }


def read_status(run: RunFolder, stage: str) -> dict[str, Any] | None:
    """The small summary written beside a stage's state: step, total_steps, finished."""
    path = run.status_path(stage)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _save(
    run: RunFolder,
    stage: Stage,
    *,
    photos: TrainingPhotos,
    step: int,
    total: int,
    samples_seen: int,
    elapsed: float,
    finished: bool,
) -> None:
    save_state(
        run.state_path(stage.name),
        {
            "stage": stage.name,
            "step": step,
            "total_steps": total,
            "finished": finished,
            "samples_seen": samples_seen,
            "elapsed_seconds": elapsed,
            "data": photos.description,
            **stage.state_dict(),
        },
    )
    status = {"step": step, "total_steps": total, "finished": finished}
    write_text_atomic(run.status_path(stage.name), json.dumps(status) + "\n")
