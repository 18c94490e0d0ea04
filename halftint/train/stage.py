"""What every training stage shares: networks trained and frozen, optimizers, device, precision.

A stage knows its networks and losses and nothing of files, schedules or processes: the loop
(`halftint.train.loop`) feeds it batches and saves what `state_dict` returns. Stages subclass
`Stage` and implement `train_step` (one optimizer step on a batch, returning the losses) and
`preview` (outputs on validation images, for contact sheets and validation metrics).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from halftint.devices import autocast
from halftint.train.config import TrainConfig
from halftint.train.ddp import Distributed, average_gradients
from halftint.train.state import load_networks

NetworkT = TypeVar("NetworkT", bound=nn.Module)


@dataclass(frozen=True)
class Hardware:
    """Where a stage runs: device, autocast dtype (None: float32), memory format, processes."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    distributed: Distributed = field(default_factory=Distributed)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Mixed precision for the networks' layers (losses are computed in float32)."""
        return autocast(self.device, self.autocast_dtype)

    def prepare(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Move a batch to the device (channels-last where it helps)."""
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        return {
            name: tensor.to(self.device, non_blocking=True, memory_format=memory)
            for name, tensor in batch.items()
        }


@dataclass
class Preview:
    """Validation outputs: `columns` of `(B, C, H, W)` images in [0, 1] (C = 1 or 3), by title."""

    columns: dict[str, torch.Tensor]
    metrics: dict[str, float]


class Stage(ABC):
    """One training stage: the networks it trains, those it only uses, and its losses.

    Class attributes:
        name: the stage's name ("ihn", ...).
        trained: keys of the networks this stage optimizes.
        frozen: keys of the networks it uses as they are (trained by earlier stages).
        fields: the sample fields (see `halftint.data`) its batches need.
        betas: Adam's betas.
    """

    name: ClassVar[str]
    trained: ClassVar[tuple[str, ...]]
    frozen: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]]
    betas: ClassVar[tuple[float, float]] = (0.9, 0.999)

    def __init__(
        self, networks: dict[str, nn.Module], config: TrainConfig, hardware: Hardware
    ) -> None:
        missing = [
            key for key in (*self.trained, *self.needed_frozen(config)) if key not in networks
        ]
        if missing:
            raise ValueError(f"stage {self.name} needs the networks {', '.join(missing)}")
        self.networks = networks
        self.config = config
        self.hardware = hardware
        memory = torch.channels_last if hardware.channels_last else torch.contiguous_format
        for key, network in networks.items():
            network.to(hardware.device).to(memory_format=memory)
            if key in self.trained:
                network.train().requires_grad_(True)
            else:
                # frozen networks run as at inference: no dropout, BatchNorm running statistics
                network.eval().requires_grad_(False)
        self.lr = config.schedule(self.name).lr
        self.optimizers = self.make_optimizers()

    @classmethod
    def needed_frozen(cls, config: TrainConfig) -> tuple[str, ...]:
        """The frozen networks this stage needs with these settings."""
        del config
        return cls.frozen

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam over all trained networks; stages with adversaries override this."""
        parameters = [p for key in self.trained for p in self.networks[key].parameters()]
        return {self.name: torch.optim.Adam(parameters, lr=self.lr, betas=self.betas)}

    def scale_lr(self, factor: float) -> None:
        """Set every optimizer's learning rate to `factor` times the stage's `lr`."""
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] = self.lr * factor

    @property
    def current_lr(self) -> float:
        """The learning rate of the latest step."""
        first = next(iter(self.optimizers.values()))
        return float(first.param_groups[0]["lr"])

    @abstractmethod
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimizer step on `batch` (already on the device); returns the losses."""

    @abstractmethod
    def preview(self, batch: dict[str, torch.Tensor]) -> Preview:
        """Outputs and metrics on validation samples, with every network in eval mode."""

    def state_dict(self) -> dict[str, Any]:
        """The trained networks' weights and the optimizers' states."""
        return {
            "networks": {key: self.networks[key].state_dict() for key in self.trained},
            "optimizers": {key: opt.state_dict() for key, opt in self.optimizers.items()},
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        """Restore what `state_dict` returned, as read from `source` (strictly: a network that
        does not fit is refused in one line, see `state.load_networks`)."""
        load_networks(self.networks, state, self.trained, source)
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])

    # ---- helpers for subclasses ----

    def network(self, key: str, kind: type[NetworkT]) -> NetworkT:
        """The network `key`, typed as the class `kind` it must be."""
        network = self.networks[key]
        if not isinstance(network, kind):
            raise TypeError(f"network {key} is a {type(network).__name__}, not a {kind.__name__}")
        return network

    def optimize(
        self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, networks: Iterable[str]
    ) -> None:
        """Backward, average gradients over processes, step."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.hardware.distributed, [self.networks[key] for key in networks])
        optimizer.step()

    @contextlib.contextmanager
    def evaluating(self) -> Any:
        """Every network in eval mode for a preview, trained ones back in train mode after."""
        for network in self.networks.values():
            network.eval()
        try:
            with self.hardware.autocast():
                yield
        finally:
            for key in self.trained:
                self.networks[key].train()


def fit_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize `(B, C, H, W)` images to `size`² (area-antialiased); unchanged if already so."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
