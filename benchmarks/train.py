"""Training throughput: images per second of each stage, and of the data pipeline alone.

    python benchmarks/train.py --data ../shared/data/photos/train --presets lite paper

For each preset and stage it builds the networks (freshly initialised: speed does not depend on
the weights), feeds real batches from the photo folder and times `--steps` optimizer steps after
one warm-up step. The data side is timed separately: decoding the photos once, then making
samples (crop, halftone, reference, color halftone) in this process, and through a DataLoader
with worker processes. Prints a Markdown table.

Figures on the development machine (2 cores of an AMD EPYC shared with other work, torch 2.14,
the 160 photos of ../shared/data/photos/train, default batch sizes), images per second:

| stage | lite, 1 thread | lite, 2 threads, other load present | paper, 1 thread |
|---|---:|---:|---:|
| ihn (batch 4) | 32 | 6.5 | 0.20 |
| hist (lite batch 8, paper 16) | 125 | 19 | 10.6 |
| colorizer (lite batch 4, paper 2) | 4.1 | 0.6 | 0.09 |
| fusion (batch 4) | 12.5 | 1.5 | 0.12 |

Data side (lite, 128 px, samples/s): in-process 690 (ihn fields), 2500 (hist), 380
(colorizer: reference and color halftone too), 1200 (fusion); decoding the photos once: about
75 photos/s. The data side is 10 to 90 times faster than the training step it feeds, so one
worker process (the CPU default) is plenty. Two OpenMP threads with another program on the
second core are 5 to 7 times slower than one: hence the load-aware default thread count.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import DataLoader

from halftint.data import (
    PhotoSamples,
    SampleMaker,
    StreamBatchSampler,
    find_photos,
    load_photos,
)
from halftint.nets import build_networks, get_preset
from halftint.train.config import STAGES, TrainConfig, resolve
from halftint.train.ddp import Distributed
from halftint.train.registry import STAGE_CLASSES
from halftint.train.run import make_hardware


def _maker(config: TrainConfig, stage: str) -> SampleMaker:
    fields = STAGE_CLASSES[stage].fields
    return SampleMaker(config.crop_size, config.rescale, config.halftone, config.reference, fields)


def data_throughput(
    config: TrainConfig, photos: list[np.ndarray], samples: int
) -> list[tuple[str, dict[str, float]]]:
    """Samples per second of each stage's fields, in-process and with DataLoader workers."""
    rows = []
    for stage in STAGES:
        dataset = PhotoSamples(photos, _maker(config, stage), seed=0, stream=0)
        dataset[0]  # load the compiled halftoners before timing
        started = time.perf_counter()
        for number in range(samples):
            dataset[number]
        rates = {"in-process": samples / (time.perf_counter() - started)}
        for workers in (1, 2):
            batches = StreamBatchSampler(start=0, batches=samples // 4 + 1, batch_size=4)
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers)
            iterator = iter(loader)
            next(iterator)  # workers started
            started = time.perf_counter()
            for _ in range(samples // 4):
                next(iterator)
            rates[f"{workers} worker(s)"] = samples // 4 * 4 / (time.perf_counter() - started)
            del iterator
        rows.append((stage, rates))
    return rows


def stage_throughput(
    config: TrainConfig, photos: list[np.ndarray], stage: str, steps: int
) -> tuple[float, int]:
    """(images per second, batch size) of `steps` training steps of `stage`."""
    preset = get_preset(config.preset)
    stage_class = STAGE_CLASSES[stage]
    names = (*stage_class.trained, *stage_class.needed_frozen(config))
    networks = build_networks(preset, names)
    hardware = make_hardware(config, Distributed())
    trainer = stage_class(networks, config, hardware)
    batch_size = config.schedule(stage).batch_size
    loader = DataLoader(
        PhotoSamples(photos, _maker(config, stage), seed=0, stream=0),
        batch_sampler=StreamBatchSampler(start=0, batches=steps + 1, batch_size=batch_size),
        num_workers=1,
    )
    batches = iter(loader)
    trainer.train_step(hardware.prepare(next(batches)))  # warm-up
    if hardware.device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(hardware.prepare(next(batches)))
    if hardware.device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - started), batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/photos/train")
    parser.add_argument("--presets", nargs="+", default=["lite", "paper"])
    parser.add_argument("--stages", nargs="+", default=list(STAGES))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per stage")
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="0: automatic")
    parser.add_argument("--samples", type=int, default=200, help="timed samples for the data side")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-data", action="store_true", help="skip the data-side measurement")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    paths = find_photos(args.data)
    print("| what | crop | batch | threads | images/s |")
    print("|---|---:|---:|---:|---:|")
    for preset_name in args.presets:
        preset = get_preset(preset_name)
        base = TrainConfig(preset=preset_name, device=args.device)
        config = resolve(base, preset.working_size)
        started = time.perf_counter()
        cache = load_photos(paths, config.cache_long_side)
        rate = len(cache.images) / (time.perf_counter() - started)
        print(f"| decode and cache the photos ({preset_name}) | | | 1 | {rate:.0f} photos/s |")
        if not args.no_data:
            for stage, rates in data_throughput(config, cache.images, args.samples):
                for workers, value in rates.items():
                    what = f"data only: {stage} samples, {workers}"
                    print(f"| {what} | {config.crop_size} | 4 | 1 | {value:.0f} |")
        for threads in args.threads:
            threaded = resolve(replace(base, threads=threads), preset.working_size)
            for stage in args.stages:
                rate, batch = stage_throughput(threaded, cache.images, stage, args.steps)
                used = torch.get_num_threads()
                what = f"train {preset_name} {stage}"
                print(
                    f"| {what} | {config.crop_size} | {batch} | {used} | {rate:.2f} |", flush=True
                )


if __name__ == "__main__":
    main()
