"""The training loop of one stage: data, steps, logging, contact sheets, checkpoints, stopping.

Resuming is exact: the loop reseeds torch's random generator from (seed, stage, step, rank)
before every step, samples are a pure function of their number (`halftint.data`), and the state
file holds the networks, the optimizers, the step and the number of samples seen. On the CPU a
run stopped after k steps and resumed ends with the same weights as one never stopped.
"""

from __future__ import annotations

import copy
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
from halftint.train.config import STAGES, StageSchedule, TrainConfig, lr_factor, stage_progress
from halftint.train.parent import ParentBundle, extend_network, open_parent
from halftint.train.pretrained import load_semantic_weights
from halftint.train.registry import NETWORK_SOURCES, STAGE_CLASSES, frozen_source
from halftint.train.sheets import contact_sheet
from halftint.train.stage import Hardware, Stage
from halftint.train.state import (
    MetricsLog,
    RunFolder,
    StopRequest,
    load_networks,
    load_state,
    save_state,
    write_text_atomic,
)

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

    After every step, in this order: the step is reported; a metrics record is written when
    due (`_every`); validation runs when due; all processes agree whether to stop
    (`_stop_reasons`); the state is saved when due (`Checkpoints`) or when the stage ends or
    stops; then a stop ends the stage.

    Raises:
        UsageError: a network this stage needs from an earlier stage is not in the run folder.
    """
    distributed = hardware.distributed
    stage_class = STAGE_CLASSES[stage_name]
    stage, state = _make_stage(
        stage_class, config, preset=preset, run=run, hardware=hardware, reporter=reporter
    )
    position = Position.of(state)
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
        log.truncate_after(position.step)
    if is_finished(state, config, stage_name, train_count):
        reporter.note(f"{stage_name}: already finished (step {position.step} of {total}), skipped")
        return StageOutcome(stage_name, position.step, total, finished=True, stopped=False)
    reporter.stage_started(stage_name, position.step, total)

    maker = SampleMaker(
        schedule.crop_size,
        config.rescale,
        config.halftone,
        config.reference,
        stage_class.fields,
        view_side=0 if schedule.native else config.cache_long_side,
        smooth=schedule.smooth,
    )
    loader = _loader(
        maker,
        position,
        photos=photos,
        config=config,
        hardware=hardware,
        stage=stage_name,
        total=total,
    )
    # validation on photos only, so that its figures compare across recipes
    val_maker = copy.copy(maker)
    val_maker.smooth = 0.0
    val_batches = _validation_batches(photos, val_maker, config) if distributed.is_main else []

    interval = LossInterval(schedule.batch_size)
    checkpoints = Checkpoints(config)
    tick = time.perf_counter()
    stopped = interrupted = out_of_time = False
    for batch in loader:
        losses = _train_step(stage, batch, config, position, train_count)
        new_epoch = position.advance(schedule.batch_size, train_count)
        # wall time, waiting for data included: what a time budget is about
        now = time.perf_counter()
        position.elapsed, tick = position.elapsed + now - tick, now
        interval.add(losses)
        rate = interval.rate()
        reporter.step_done(position.step, losses, rate)
        last = position.step >= total
        if _every(position.step, config.log_every, last):
            averaged = ddp.mean_over_processes(distributed, interval.mean(losses))
            if distributed.is_main:
                log.append(
                    _record(
                        position.step,
                        epoch=position.samples_seen / train_count,
                        lr=stage.current_lr,
                        rate=rate,
                        elapsed=position.elapsed,
                        losses=averaged,
                    )
                )
            interval.restart()
        if distributed.is_main and _every(position.step, config.sample_every, last):
            metrics = _preview(
                stage, val_batches, hardware=hardware, run=run, config=config, step=position.step
            )
            log.append({"step": position.step, "val": metrics})
        interrupted, out_of_time = _stop_reasons(distributed, stop, schedule, position.elapsed)
        stopped = (interrupted or out_of_time) and not last
        if distributed.is_main and (
            checkpoints.due(position.step, new_epoch=new_epoch) or stopped or last
        ):
            finished = last or out_of_time
            _save(run, stage, photos=photos, position=position, total=total, finished=finished)
            checkpoints.saved()
        if stopped:
            reporter.note(_stop_note(stage_name, position.step, total, stop, interrupted))
            break
    ddp.barrier(distributed)
    reporter.stage_ended()
    finished = position.step >= total or out_of_time
    stopped_by_request = stopped and interrupted
    return StageOutcome(
        stage_name,
        position.step,
        total,
        finished,
        stopped_by_request,
        signal=stop.reason if stopped_by_request and stop.reason.startswith("SIG") else "",
    )


@dataclass
class Position:
    """How far a stage is: optimizer steps taken, samples drawn (all processes together) and
    seconds of training spent, as its state file records them."""

    step: int = 0
    samples_seen: int = 0
    elapsed: float = 0.0

    @classmethod
    def of(cls, state: dict[str, Any] | None) -> Position:
        """The position of a saved state (the start when there is none)."""
        if state is None:
            return cls()
        return cls(state["step"], state["samples_seen"], state["elapsed_seconds"])

    def advance(self, batch_size: int, photos: int) -> bool:
        """One more step of `batch_size` samples; whether it began another pass over the
        `photos`."""
        epoch_before = self.samples_seen // photos
        self.step += 1
        self.samples_seen += batch_size
        return self.samples_seen // photos != epoch_before


class LossInterval:
    """The losses of the steps since the last metrics record, and their images per second."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.restart()

    def restart(self) -> None:
        self.losses: list[dict[str, float]] = []
        self.start = time.perf_counter()

    def add(self, losses: dict[str, float]) -> None:
        self.losses.append(losses)

    def rate(self) -> float:
        """Images per second (on this process) since the interval began."""
        seconds = max(time.perf_counter() - self.start, 1e-9)
        return self.batch_size * len(self.losses) / seconds

    def mean(self, latest: dict[str, float]) -> dict[str, float]:
        """The mean of each loss the `latest` step reported, over the interval."""
        return {name: float(np.mean([item[name] for item in self.losses])) for name in latest}


class Checkpoints:
    """When a stage saves its state, besides when it ends or stops: every `checkpoint_every`
    steps, after `checkpoint_minutes` without a save, and at the end of each pass over the
    photos (unless the last save is under `EPOCH_SAVE_MIN_SECONDS` old)."""

    def __init__(self, config: TrainConfig) -> None:
        self.every = config.checkpoint_every
        self.seconds = config.checkpoint_minutes * 60
        self.last_save = time.monotonic()

    def due(self, step: int, *, new_epoch: bool) -> bool:
        return (
            step % self.every == 0
            or time.monotonic() - self.last_save >= self.seconds
            or (new_epoch and time.monotonic() - self.last_save >= EPOCH_SAVE_MIN_SECONDS)
        )

    def saved(self) -> None:
        self.last_save = time.monotonic()


def _every(step: int, interval: int, last: bool) -> bool:
    """Whether a record due every `interval` steps is due after `step` (always after the last)."""
    return step % interval == 0 or last


def _stop_reasons(
    distributed: ddp.Distributed, stop: StopRequest, schedule: StageSchedule, elapsed: float
) -> tuple[bool, bool]:
    """(a stop was requested, the time limit is reached), on any process: one decision for all
    processes, or they would wait for each other forever."""
    out_of_time = schedule.minutes > 0 and elapsed >= schedule.minutes * 60
    interrupted, out_of_time = ddp.any_process(distributed, [stop.requested, out_of_time])
    return interrupted, out_of_time


def _stop_note(stage: str, step: int, total: int, stop: StopRequest, interrupted: bool) -> str:
    if interrupted:
        return (
            f"{stage}: stopped at step {step} ({stop.reason}); state saved, continue with --resume"
        )
    return f"{stage}: time limit reached at step {step} of {total}"


def _make_stage(
    stage_class: type[Stage],
    config: TrainConfig,
    *,
    preset: Preset,
    run: RunFolder,
    hardware: Hardware,
    reporter: Reporter,
) -> tuple[Stage, dict[str, Any] | None]:
    """The stage with its networks: from its saved state in `run` (returned too), else new
    (`_initialise`); the networks it only uses come from earlier stages or the parent bundle."""
    torch.manual_seed(init_seed(config.seed, stage_class.name))
    networks = build_networks(preset, stage_class.trained)
    parent = open_parent(config.init_from, preset) if config.init_from else None
    state = load_state(run.state_path(stage_class.name))
    if state is None:
        _initialise(
            stage_class.name,
            stage_class.trained,
            networks,
            config,
            parent=parent,
            reporter=reporter,
        )
    networks.update(_frozen_networks(stage_class, config, preset, run, reporter, parent=parent))
    stage = stage_class(networks, config, hardware)
    if state is not None:
        stage.load_state_dict(state, run.state_path(stage_class.name))
    return stage, state


def _loader(
    maker: SampleMaker,
    position: Position,
    *,
    photos: TrainingPhotos,
    config: TrainConfig,
    hardware: Hardware,
    stage: str,
    total: int,
) -> DataLoader[dict[str, torch.Tensor]]:
    """This process's batches of the steps left, continuing the sample stream at `position`."""
    distributed = hardware.distributed
    dataset = PhotoSamples(photos.train.images, maker, config.seed, STAGES.index(stage))
    sampler = StreamBatchSampler(
        position.samples_seen,
        total - position.step,
        config.schedule(stage).batch_size,
        distributed.rank,
        distributed.world_size,
    )
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=_workers(config, hardware),
        pin_memory=hardware.device.type == "cuda",
        worker_init_fn=_leave_stopping_to_the_main_process,
    )


def _train_step(
    stage: Stage,
    batch: dict[str, torch.Tensor],
    config: TrainConfig,
    position: Position,
    train_count: int,
) -> dict[str, float]:
    """The step after `position`: reseeded for exact resumes, at its scheduled learning rate."""
    distributed = stage.hardware.distributed
    torch.manual_seed(step_seed(config.seed, stage.name, position.step, distributed.rank))
    progress = stage_progress(config, stage.name, position.step, position.elapsed, train_count)
    stage.scale_lr(lr_factor(progress, config.schedule(stage.name).lr_decay))
    return stage.train_step(stage.hardware.prepare(batch))


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
        in_parent = parent is not None and parent.has(key)
        where = frozen_source(
            stage_class.name, key, in_run=state is not None, in_parent=in_parent, run_root=run.root
        )
        if where == "parent":
            assert parent is not None
            networks[key].load_state_dict(parent.load([key])[key].state_dict())
            reporter.note(f"{stage_class.name}: using {key} from the bundle {parent.name}")
            continue
        assert state is not None
        load_networks(networks, state, [key], run.state_path(source))
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
    position: Position,
    total: int,
    finished: bool,
) -> None:
    save_state(
        run.state_path(stage.name),
        {
            "stage": stage.name,
            "step": position.step,
            "total_steps": total,
            "finished": finished,
            "samples_seen": position.samples_seen,
            "elapsed_seconds": position.elapsed,
            "data": photos.description,
            **stage.state_dict(),
        },
    )
    status = {"step": position.step, "total_steps": total, "finished": finished}
    write_text_atomic(run.status_path(stage.name), json.dumps(status) + "\n")
