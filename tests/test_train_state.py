"""Run-folder state: atomic saves, format checks, the metrics log, stop requests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from halftint.errors import UsageError
from halftint.train import state as state_module
from halftint.train.state import (
    MetricsLog,
    StopRequest,
    load_state,
    save_state,
    write_text_atomic,
)


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "stage" / "state.pt"
    assert load_state(path) is None
    save_state(path, {"step": 3, "networks": {"ihn": {"weight": torch.arange(4.0)}}})
    loaded = load_state(path)
    assert loaded is not None
    assert loaded["step"] == 3 and loaded["format_version"] == state_module.STATE_FORMAT_VERSION
    assert torch.equal(loaded["networks"]["ihn"]["weight"], torch.arange(4.0))


def test_a_failed_save_keeps_the_previous_state_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.pt"
    save_state(path, {"step": 1})

    def broken_save(obj: object, destination: str) -> None:
        Path(destination).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(state_module.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"step": 2})
    monkeypatch.undo()
    loaded = load_state(path)
    assert loaded is not None and loaded["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt"]


def test_a_saved_state_reaches_the_disk_before_it_replaces_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.pt"
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(path.exists())
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    save_state(path, {"step": 1})
    assert synced == [False]  # once, before the rename


def test_run_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        save_state(tmp_path / "ihn" / "state.pt", {"step": 1})
        write_text_atomic(tmp_path / "ihn" / "status.json", "{}\n")
        log = MetricsLog(tmp_path / "ihn" / "metrics.jsonl")
        log.append({"step": 1})
        log.append({"step": 2})
        log.truncate_after(1)  # rewritten, as a resumed run does
    finally:
        os.umask(umask)
    for name in ("state.pt", "status.json", "metrics.jsonl"):
        assert (tmp_path / "ihn" / name).stat().st_mode & 0o777 == 0o644, name
    assert sorted(p.name for p in (tmp_path / "ihn").iterdir()) == [
        "metrics.jsonl",
        "state.pt",
        "status.json",
    ]


def test_unreadable_and_newer_states_are_usage_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch file")
    with pytest.raises(UsageError, match="cannot read training state"):
        load_state(broken)
    newer = tmp_path / "newer.pt"
    torch.save({"format_version": state_module.STATE_FORMAT_VERSION + 1}, newer)
    with pytest.raises(UsageError, match="newer halftint"):
        load_state(newer)


def test_metrics_log_appends_and_truncates_after_a_step(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "ihn" / "metrics.jsonl")
    assert log.records() == []
    for step in (10, 20, 30):
        log.append({"step": step, "losses": {"l1": 1.0 / step}})
    log.append({"step": 30, "val": {"psnr": 20.0}})
    log.truncate_after(20)
    assert [record["step"] for record in log.records()] == [10, 20]


def test_stop_request_turns_sigterm_into_a_flag_and_restores_the_handler() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == previous


def test_a_second_interrupt_stops_at_once() -> None:
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
