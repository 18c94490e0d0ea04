"""IHN pilots: candidate descreening networks trained for equal CPU time, then measured.

    python benchmarks/ihn_pilots.py --data ../shared/data/photos/train \\
        --candidate shuffle2-w32-b8 --minutes 15 --out pilots/shuffle2-w32-b8.json

Each candidate is an `IHNConfig` plus a crop size, batch size and loss. It trains on native-scale
crops (`SampleMaker` with `view_side=0`, the `ihn` stage's data) of the photos that the hashed
split (`halftint.data.split_photos`, 10 %) keeps for training, in this one process with the
threads given (data included in the time, as a one-thread background run pays it), with Adam at
a constant rate for the first half of the time and a linear decay to zero over the second. It is
then measured on the other 10 %: 256² center crops (as `halftint eval` makes them), one halftone
per kind (`KINDS`), PSNR against the true gray beside the best single-σ Gaussian blur.
The held-out photos come from the training folder: `val/` is never looked at here.

Prints one Markdown table row and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from halftint.checkpoint import count_parameters
from halftint.data import (
    MAX_PHOTO_SIDE,
    HalftoneSettings,
    PhotoSamples,
    ReferenceSettings,
    SampleMaker,
    find_photos,
    load_photos,
    scan_print,
    split_photos,
)
from halftint.evaluate.measures import GAUSSIAN_SIGMAS, center_crop, gaussian_descreen, luma
from halftint.halftone import dither
from halftint.losses import psnr
from halftint.nets.ihn import IHNConfig, InverseHalftoneNet
from halftint.train.ihn_stage import gradient_l1

LITE_UNET = IHNConfig(
    base_channels=12,
    depth=6,
    dense_layers=3,
    dense_growth=32,
    dense_bottleneck=128,
    detail_channels=8,
    detail_blocks=2,
    detail_expand=16,
)


@dataclass(frozen=True)
class Candidate:
    ihn: IHNConfig
    crop: int = 96
    batch: int = 8
    lr: float = 5e-4
    gradient: float = 0.0
    mixture: dict[str, float] = field(default_factory=dict)


def _shuffle(factor: int, width: int, blocks: int, sigma: float = 1.2) -> IHNConfig:
    return IHNConfig(
        topology="shuffle",
        shuffle_factor=factor,
        shuffle_width=width,
        shuffle_blocks=blocks,
        base_sigma=sigma,
    )


CANDIDATES: dict[str, Candidate] = {
    "lite-unet": Candidate(LITE_UNET, crop=128, batch=4, lr=2e-4),
    "shuffle2-w32-b8": Candidate(_shuffle(2, 32, 8)),
    "shuffle2-w48-b12": Candidate(_shuffle(2, 48, 12)),
    "shuffle4-w64-b12": Candidate(_shuffle(4, 64, 12), crop=128),
    "shuffle4-w96-b16": Candidate(_shuffle(4, 96, 16), crop=128),
    "shuffle2-w48-b12-grad": Candidate(_shuffle(2, 48, 12), gradient=0.5),
    "shuffle2-w32-b8-grad": Candidate(_shuffle(2, 32, 8), gradient=0.5),
    "shuffle4-w64-b12-grad": Candidate(_shuffle(4, 64, 12), crop=128, gradient=0.5),
}

# what the pilots are measured on: (label, halftone of a gray image)
KINDS = {
    "floyd-steinberg": lambda gray, seed: dither(gray, "floyd-steinberg", seed=seed),
    "jarvis": lambda gray, seed: dither(gray, "jarvis", seed=seed),
    "atkinson": lambda gray, seed: dither(gray, "atkinson", seed=seed),
    "clustered-4px": lambda gray, seed: dither(gray, "clustered", lpi=150, dpi=600, seed=seed),
    "clustered-6px": lambda gray, seed: dither(gray, "clustered", lpi=100, dpi=600, seed=seed),
    "scanned-6px": lambda gray, seed: scan_print(
        dither(gray, "clustered", lpi=100, dpi=600, angle=30, seed=seed).astype(np.float32),
        blur=0.7,
        resample=0.8,
        noise=0.02,
        quality=75,
        rng=np.random.default_rng(seed),
    ),
}


def gmac_per_megapixel(network: InverseHalftoneNet) -> float:
    """Multiply-accumulates of one forward pass over a 256² image, per megapixel, in G."""
    total = 0

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kernel = module.weight.shape[1] * module.weight.shape[2] * module.weight.shape[3]
            total += output.numel() * kernel

    hooks = [module.register_forward_hook(count) for module in network.modules()]
    with torch.no_grad():
        network.eval()(torch.rand(1, 1, 256, 256).round())
    for hook in hooks:
        hook.remove()
    return total / (256 * 256) * 1e6 / 1e9


def evaluate(network: InverseHalftoneNet, photos: list[np.ndarray]) -> dict[str, dict[str, float]]:
    grays = [luma(center_crop(photo.astype(np.float32) / 255.0, 256)) for photo in photos]
    results: dict[str, dict[str, float]] = {}
    network.eval()
    for kind, make in KINDS.items():
        halftones = [np.asarray(make(gray, index), np.float32) for index, gray in enumerate(grays)]
        with torch.no_grad():
            batch = torch.from_numpy(np.stack(halftones)[:, None])
            outputs = network(batch).clamp(0, 1).numpy()[:, 0]
        net = float(np.mean([psnr(out, gray) for out, gray in zip(outputs, grays, strict=True)]))
        best = max(
            float(
                np.mean(
                    [
                        psnr(gaussian_descreen(h, sigma), g)
                        for h, g in zip(halftones, grays, strict=True)
                    ]
                )
            )
            for sigma in GAUSSIAN_SIGMAS[:40]
        )
        results[kind] = {"psnr": net, "gaussian_psnr": best, "gain": net - best}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--candidate", required=True, choices=sorted(CANDIDATES))
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    candidate = CANDIDATES[args.candidate]
    paths = find_photos(args.data)
    train_paths, held_paths = split_photos(paths, args.data, 0.1)
    train = load_photos(train_paths, MAX_PHOTO_SIDE).images
    held = load_photos(held_paths, MAX_PHOTO_SIDE).images
    mixture = HalftoneSettings()
    if candidate.mixture:
        mixture.mixture = dict(candidate.mixture)
    maker = SampleMaker(
        candidate.crop, (1.0, 1.0), mixture, ReferenceSettings(), ("gray", "halftone")
    )
    dataset = PhotoSamples(train, maker, args.seed, 0)
    network = InverseHalftoneNet(candidate.ihn).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(network.parameters(), lr=candidate.lr, betas=(0.9, 0.999))
    budget = args.minutes * 60.0
    start = time.perf_counter()
    data_seconds = 0.0
    step = 0
    losses: list[float] = []
    network.train()
    while (elapsed := time.perf_counter() - start) < budget:
        tick = time.perf_counter()
        samples = [dataset[step * candidate.batch + index] for index in range(candidate.batch)]
        gray = torch.stack([sample["gray"] for sample in samples])
        halftone = torch.stack([sample["halftone"] for sample in samples])
        data_seconds += time.perf_counter() - tick
        for group in optimizer.param_groups:
            group["lr"] = candidate.lr * min(1.0, 2.0 * (1.0 - elapsed / budget))
        content, output = network.forward_parts(
            halftone.contiguous(memory_format=torch.channels_last)
        )
        loss = F.l1_loss(output, gray)
        if candidate.ihn.topology == "unet":
            loss = loss + F.mse_loss(content, gray)
        if candidate.gradient > 0:
            loss = loss + candidate.gradient * gradient_l1(output, gray)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
    seconds = time.perf_counter() - start
    scores = evaluate(network, held)
    record = {
        "candidate": args.candidate,
        "config": asdict(candidate.ihn),
        "crop": candidate.crop,
        "batch": candidate.batch,
        "lr": candidate.lr,
        "gradient": candidate.gradient,
        "parameters": count_parameters(network),
        "gmac_per_mp": gmac_per_megapixel(network),
        "steps": step,
        "train_seconds": seconds,
        "data_share": data_seconds / seconds,
        "samples_per_second_data": step * candidate.batch / max(data_seconds, 1e-9),
        "final_loss": float(np.mean(losses[-100:])),
        "held_out_photos": len(held),
        "scores": scores,
        "cpu": cpu_model(),
        "threads": args.threads,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        torch.save(network.state_dict(), Path(args.out).with_suffix(".pt"))
    gains = " | ".join(f"{scores[kind]['gain']:+.2f}" for kind in KINDS)
    print(
        f"| {args.candidate} | {record['parameters']:,} | {record['gmac_per_mp']:.1f} | "
        f"{step} | {gains} |"
    )
    print(f"data share of time {record['data_share']:.0%}; " + json.dumps(scores))
    if not math.isfinite(record["final_loss"]):
        raise SystemExit("loss diverged")


def cpu_model() -> str:
    """The CPU model name (from /proc/cpuinfo), for figures that depend on it."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
