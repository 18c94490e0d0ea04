"""TrainConfig: TOML round trip, command-line overrides, preset defaults and range checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from halftint.cli.train_cmd import TIME_BUDGET
from halftint.errors import UsageError
from halftint.train.config import (
    PRESET_SCHEDULES,
    TIME_SHARES,
    TrainConfig,
    apply,
    load_toml,
    lr_factor,
    parse_override,
    resolve,
    stage_progress,
    to_toml,
)


def test_toml_round_trip_gives_an_equal_config(tmp_path: Path) -> None:
    config = apply(
        TrainConfig(),
        {"preset": "paper", "ihn": {"steps": 7}, "halftone": {"mixture": {"clustered": 1.0}}},
        "test",
    )
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert apply(TrainConfig(), load_toml(path), str(path)) == config
    assert load_toml(path)["halftone"]["mixture"] == {"clustered": 1.0}


def test_overrides_parse_toml_values_and_bare_words() -> None:
    assert parse_override("ihn.steps=3000") == {"ihn": {"steps": 3000}}
    assert parse_override("rescale=[0.5, 1]") == {"rescale": [0.5, 1]}
    assert parse_override("preset=paper") == {"preset": "paper"}
    config = apply(TrainConfig(), parse_override("colorizer.lr=5e-5"), "--set")
    assert config.colorizer.lr == 5e-5
    assert config.rescale == (0.6, 1.0)
    config = apply(config, parse_override("rescale=[0.5, 1]"), "--set")
    assert config.rescale == (0.5, 1.0)
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_override("ihn.steps")


def test_unknown_settings_and_wrong_types_are_named() -> None:
    with pytest.raises(UsageError, match=r"unknown setting ihn\.stepz in --set; valid: batch_size"):
        apply(TrainConfig(), {"ihn": {"stepz": 3}}, "--set")
    with pytest.raises(UsageError, match=r"setting ihn\.steps in f\.toml must be int, got 2\.5"):
        apply(TrainConfig(), {"ihn": {"steps": 2.5}}, "f.toml")
    with pytest.raises(UsageError, match="must be a table"):
        apply(TrainConfig(), {"losses": 3}, "--set")


def test_resolve_fills_preset_defaults() -> None:
    resolved = resolve(TrainConfig(preset="lite"), working_size=128)
    assert resolved.crop_size == 128 and resolved.cache_long_side == 256
    for stage, defaults in PRESET_SCHEDULES["lite"].items():
        assert resolved.schedule(stage).steps == defaults["steps"]
        assert resolved.schedule(stage).batch_size == defaults["batch_size"]
    assert resolved.ihn.lr == 2e-4 and resolved.colorizer.lr == 1e-4
    paper = resolve(TrainConfig(preset="paper"), working_size=256)
    assert paper.ihn.epochs == 130 and paper.ihn.steps == 0
    # epochs become steps through the number of photos: 130 * 10 / 4 rounded up
    assert paper.total_steps("ihn", train_photos=10) == 325
    explicit = resolve(apply(TrainConfig(), {"ihn": {"steps": 9}}, "t"), working_size=128)
    assert explicit.total_steps("ihn", train_photos=10) == 9


def test_an_unknown_preset_is_refused_naming_the_valid_ones() -> None:
    # it used to take lite's schedules silently
    with pytest.raises(UsageError, match=r"^unknown preset 'bogus'; valid: paper, lite$"):
        resolve(TrainConfig(preset="bogus"), working_size=128)
    assert set(PRESET_SCHEDULES) == {"paper", "lite"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ihn": {"batch_size": -2}}, r"bad setting ihn\.batch_size = -2: must be >= 1"),
        ({"hist": {"steps": -1}}, r"bad setting hist\.steps = -1: must be >= 0"),
        ({"crop_size": 8}, r"bad setting crop_size = 8: must be in \[16, 1024\]"),
        ({"halftone": {"mixture": {"halftoning": 1.0}}}, r"must be one of floyd-steinberg"),
        ({"halftone": {"mixture": {"clustered": 0.0}}}, "a positive total weight"),
        ({"halftone": {"clustered_period": [1.0, 4.0]}}, r"2 <= low <= high"),
        ({"halftone": {"clustered_spots": ["star"]}}, r"one of round, ellipse"),
        ({"precision": "fp8"}, "auto, fp32 or bf16"),
        ({"val_fraction": 1.0}, r"in \[0, 1\)"),
        ({"seed": -1}, ">= 0"),
        (
            {"fusion": {"lr_decay": 1.5}},
            r"bad setting fusion\.lr_decay = 1\.5: must be in \[0, 1\]",
        ),
    ],
)
def test_resolve_rejects_out_of_range_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve(apply(TrainConfig(), settings, "test"), working_size=128)


def test_load_toml_reports_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="config file not found"):
        load_toml(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("ihn = [", encoding="utf-8")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_toml(broken)


def test_time_shares_add_up_and_the_help_states_them() -> None:
    assert sum(TIME_SHARES.values()) == pytest.approx(1.0)
    help_text = TIME_BUDGET.help or ""
    for stage, share in TIME_SHARES.items():
        assert f"{stage} {round(share * 100)} %" in help_text


def test_the_learning_rate_is_constant_then_falls_linearly_to_zero() -> None:
    assert [lr_factor(p, 0.5) for p in (0.0, 0.25, 0.5, 0.75, 1.0)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert lr_factor(0.9, 0.2) == pytest.approx(0.5)
    assert lr_factor(0.99, 0.0) == 1.0  # no decay
    assert lr_factor(0.5, 1.0) == 0.5  # decay over the whole stage


def test_progress_counts_steps_or_time_whichever_is_further() -> None:
    config = resolve(apply(TrainConfig(), {"ihn": {"steps": 100}}, "t"), working_size=128)
    assert stage_progress(config, "ihn", step=25, elapsed=1e6, photos=10) == 0.25
    timed = resolve(
        apply(TrainConfig(), {"ihn": {"steps": 100, "minutes": 10.0}}, "t"), working_size=128
    )
    assert stage_progress(timed, "ihn", step=25, elapsed=300.0, photos=10) == 0.5
    assert stage_progress(timed, "ihn", step=80, elapsed=300.0, photos=10) == 0.8
    assert stage_progress(timed, "ihn", step=10, elapsed=7200.0, photos=10) == 1.0
    assert TrainConfig().ihn.lr_decay == 0.5


@pytest.mark.parametrize("key", ["crop_size", "ihn.crop_size", "colorizer.crop_size"])
def test_crop_sizes_are_bounded(key: str) -> None:
    config = apply(TrainConfig(), parse_override(f"{key}=4096"), "--set")
    with pytest.raises(UsageError, match=r"crop_size = 4096: must be in \[16, 1024\]"):
        resolve(config, working_size=128)


def test_the_ihn_stage_crops_natively_at_its_own_size() -> None:
    resolved = resolve(TrainConfig(preset="lite"), working_size=128)
    assert resolved.ihn.native and resolved.ihn.crop_size == 96 and resolved.ihn.batch_size == 8
    assert not resolved.colorizer.native and resolved.colorizer.crop_size == 128
    # an explicit run crop size applies to every stage
    both = resolve(TrainConfig(preset="lite", crop_size=64), working_size=128)
    assert both.ihn.crop_size == both.colorizer.crop_size == 64
