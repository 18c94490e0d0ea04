"""Device names: one parser for inference and training, CUDA simulated where there is none."""

from __future__ import annotations

import pytest
import torch

from halftint.devices import parse_device, resolve_device
from halftint.errors import UsageError
from halftint.train.config import TrainConfig, resolve
from halftint.train.ddp import Distributed
from halftint.train.run import make_hardware


def test_names_are_parsed_without_looking_at_the_hardware() -> None:
    assert parse_device("auto") == ("auto", None)
    assert parse_device("cpu") == ("cpu", None)
    assert parse_device("cuda") == ("cuda", None)
    assert parse_device("cuda:3") == ("cuda", 3)
    with pytest.raises(UsageError, match=r"^device 'cuda:x': the CUDA index must be a number"):
        parse_device("cuda:x")
    with pytest.raises(UsageError, match=r"^unknown device 'tpu': use auto, cpu, cuda or cuda:N$"):
        parse_device("tpu")


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.mark.usefixtures("two_gpus")
def test_cuda_names_resolve_to_devices_that_are_there() -> None:
    assert resolve_device("auto") == torch.device("cuda")  # inference: the current device
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    # training passes each process's local rank for a bare "cuda" and for "auto"
    assert resolve_device("cuda", cuda_index=1) == torch.device("cuda", 1)
    assert resolve_device("auto", cuda_index=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", cuda_index=1) == torch.device("cuda", 0)
    with pytest.raises(UsageError, match=r"only 2 CUDA device\(s\) here \(cuda:0 \.\. cuda:1\)"):
        resolve_device("cuda:2")
    with pytest.raises(UsageError, match="only 2 CUDA device"):
        resolve_device("cuda", cuda_index=2)


@pytest.mark.usefixtures("two_gpus")
def test_training_takes_its_gpu_from_the_same_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    hardware = make_hardware(TrainConfig(device="cuda"), Distributed(local_rank=1))
    assert hardware.device == torch.device("cuda", 1) and chosen == [hardware.device]
    # a number that is not one used to reach int() and end in a traceback
    with pytest.raises(UsageError, match="the CUDA index must be a number"):
        make_hardware(TrainConfig(device="cuda:x"), Distributed())
    with pytest.raises(UsageError, match="only 2 CUDA device"):
        make_hardware(TrainConfig(device="cuda:7"), Distributed())


def test_a_run_with_a_misspelt_device_is_refused_when_its_settings_are_resolved() -> None:
    with pytest.raises(UsageError, match="device 'cuda:x': the CUDA index must be a number"):
        resolve(TrainConfig(device="cuda:x"), working_size=128)
    with pytest.raises(UsageError, match="unknown device 'gpu'"):
        resolve(TrainConfig(device="gpu"), working_size=128)
