"""A run folder and what makes a run resumable: atomic state files, metrics log, stop requests.

Layout of a run folder:

    RUN/config.toml                  the resolved settings (`--config RUN/config.toml` repeats it)
    RUN/<stage>/state.pt             networks, optimizers, step, samples seen, time spent
    RUN/<stage>/status.json          step, total steps and whether the stage is finished
    RUN/<stage>/metrics.jsonl        one JSON record per logged step
    RUN/<stage>/samples/step_N.png   contact sheets of validation images
    RUN/bundle/                      the exported weights bundle (`colorize --weights RUN/bundle`)

No random-number-generator state is stored: the training loop reseeds from (seed, stage, step,
rank) before every step, so a resumed run draws exactly what the uninterrupted one would have,
whatever the number of processes.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import torch
from torch import nn

from halftint.checkpoint import state_mismatch
from halftint.errors import UsageError
from halftint.files import atomic_replace

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one training run folder."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def bundle_path(self) -> Path:
        return self.root / "bundle"

    def stage_path(self, stage: str) -> Path:
        return self.root / stage

    def state_path(self, stage: str) -> Path:
        return self.root / stage / "state.pt"

    def status_path(self, stage: str) -> Path:
        return self.root / stage / "status.json"

    def metrics_path(self, stage: str) -> Path:
        return self.root / stage / "metrics.jsonl"

    def samples_path(self, stage: str) -> Path:
        return self.root / stage / "samples"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` (its folder created if need be) through `atomic_replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_replace(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Save a stage's state atomically and to disk: a crash mid-write leaves the previous state
    intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_replace(path, fsync=True) as temporary:
        torch.save({"format_version": STATE_FORMAT_VERSION, **state}, temporary)


def load_state(path: Path) -> dict[str, Any] | None:
    """A stage's saved state, or None when it has none.

    Raises:
        UsageError: the file is unreadable or from a newer halftint.
    """
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise UsageError(f"cannot read training state {path}: {error}") from None
    version = state.get("format_version", 0)
    if version > STATE_FORMAT_VERSION:
        raise UsageError(
            f"training state {path} was written by a newer halftint (format {version} > "
            f"{STATE_FORMAT_VERSION}); upgrade halftint"
        )
    return state


def load_networks(
    networks: Mapping[str, nn.Module], state: dict[str, Any], keys: Iterable[str], path: Path
) -> None:
    """Load the networks `keys` saved in a stage's `state` (read from `path`) into `networks`.

    Raises:
        UsageError: a saved network does not fit the one the preset builds (the preset changed
            since the run was trained).
    """
    for key in keys:
        problem = state_mismatch(networks[key], state["networks"][key])
        if problem is not None:
            raise UsageError(
                f"{path}: its {key} does not fit the preset as this halftint builds it ({problem});"
                " the run was trained with another version of the preset: continue it with the"
                " halftint that trained it, or start a new run from its bundle with --init-from"
            )
        networks[key].load_state_dict(state["networks"][key])


class MetricsLog:
    """The JSON-lines metrics log of one stage: one record per logged step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop records past `step`: the steps a resumed run is about to redo."""
        kept = [record for record in self.records() if record.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(record) + "\n" for record in kept))


class StopRequest:
    """Turns the first Ctrl-C or SIGTERM into a polite request to save and stop.

    Used as a context manager around the training loop, which checks `requested` after every
    step. A second Ctrl-C interrupts at once (the last saved state stays valid). Outside the main
    thread signals cannot be caught; the request then only comes from `request()`.
    """

    def __init__(self) -> None:
        self.requested = False
        self.reason = ""
        self._previous: dict[int, Any] = {}

    def request(self, reason: str) -> None:
        self.requested = True
        self.reason = reason

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.request(signal.Signals(number).name)

    def __enter__(self) -> StopRequest:
        try:
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        except ValueError:
            self._previous.clear()  # not the main thread
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()
