"""What every batch command shares: input expansion, output naming, skipping, progress, summary.

Conventions (the same for `halftone`, `colorize`, `descreen`):
- INPUT is files, folders (searched recursively for images; other files are counted and skipped)
  or `-` (stdin). A missing path or a folder with no image is a usage error (exit 2).
- OUT is a file (one input), a folder (outputs keep the input tree) or `-` (stdout).
- Existing outputs are never overwritten without `--overwrite`; each skip is reported.
- One bad input does not stop a batch: it is reported at the end and the exit code is 1.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from halftint.errors import HalftintError, Setting, UsageError

if TYPE_CHECKING:
    from halftint.bundle import Manifest
    from halftint.hub import HubSource

console = Console(stderr=True, highlight=False)

STDIO = "-"
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".pbm", ".pgm", ".ppm"}
)
# a bar for a handful of files is noise; show it from this many inputs on
PROGRESS_MIN_ITEMS = 4

# Hub options of every command that loads weights
CACHE_DIR_OPTION = typer.Option(
    None,
    "--cache-dir",
    metavar="DIR",
    help="Hugging Face cache folder to use (default: HF_HUB_CACHE, else HF_HOME/hub).",
)
OFFLINE_OPTION = typer.Option(
    False, "--offline", help="Never contact the Hub; use only the cache (like HF_HUB_OFFLINE=1)."
)


def print_error(message: str) -> None:
    """One line on stderr, prefixed so that it stands out in a pipeline's output."""
    first_line = " ".join(message.strip().splitlines()) or "unknown error"
    # the message is text, not markup: paths and sources may hold square brackets
    console.print(
        f"[bold red]halftint: error:[/] {escape(first_line)}", soft_wrap=True, markup=True
    )


def error_text(error: HalftintError) -> str:
    """An error's message as the command line says it: each setting it names as the option that
    sets it (`--device cpu`, `--resume`), or as `--set` for a training setting without one."""
    return error.render(_option)


# settings whose option has another name: hub.resolve_bundle's `source` is every command's --weights
_RENAMED_OPTIONS = {"source": "--weights"}


def _option(setting: Setting) -> str:
    flag = _RENAMED_OPTIONS.get(setting.name) or "--" + setting.name.replace("_", "-")
    if flag in _long_options():
        if setting.value is None or setting.value is True:
            return flag
        return f"{flag} {setting.value}"
    # a training setting: --set KEY=VALUE, the value in TOML (JSON's lists, strings and numbers)
    value = "VALUE" if setting.value is None else json.dumps(setting.value)
    return f"--set '{setting.name}={value}'"


@functools.cache
def _long_options() -> frozenset[str]:
    """Every long option of every command (read once, after the commands registered)."""
    from halftint.cli.app import app

    found: set[str] = set()
    commands = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        for parameter in command.params:
            found.update(name for name in parameter.opts if name.startswith("--"))
        commands += getattr(command, "commands", {}).values()
    return frozenset(found)


# every --seed takes 0 <= N <= SEED_MAX (numpy's and torch's generators take any such number,
# with room for the per-image offsets added to it)
SEED_MAX = 2**32 - 1


def note(message: str) -> None:
    """An informational line on stderr (stdout is for data only)."""
    console.print(message, soft_wrap=True, markup=False)


@dataclass(frozen=True)
class InputItem:
    """One input image: `path` is None for stdin; `relative` is its path below the given folder."""

    path: Path | None
    relative: Path

    @property
    def label(self) -> str:
        return "<stdin>" if self.path is None else str(self.path)


@dataclass
class InputSet:
    items: list[InputItem]
    skipped_non_images: int = 0


def collect_inputs(inputs: Sequence[str]) -> InputSet:
    """Expand files, folders (recursively) and `-` into a sorted list of image inputs.

    Raises:
        UsageError: a path does not exist, a folder holds no image, `-` is given twice or no
            input at all.
    """
    if not inputs:
        raise UsageError("no INPUT given: pass image files, folders, or '-' for stdin")
    result = InputSet(items=[])
    stdin_seen = False
    for raw in inputs:
        if raw == STDIO:
            if stdin_seen:
                raise UsageError("'-' (stdin) may be given only once")
            stdin_seen = True
            result.items.append(InputItem(path=None, relative=Path("stdin")))
            continue
        path = Path(raw)
        if path.is_dir():
            images, others = _scan_folder(path)
            if not images:
                raise UsageError(f"folder {raw} holds no images ({_suffix_list()})")
            result.items.extend(InputItem(path=p, relative=p.relative_to(path)) for p in images)
            result.skipped_non_images += others
        elif path.exists():
            # an explicitly named file is always tried, whatever its suffix: the reader decides
            result.items.append(InputItem(path=path, relative=Path(path.name)))
        else:
            raise UsageError(f"input not found: {raw}")
    return result


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    images: list[Path] = []
    others = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(
            part.startswith(".") for part in path.relative_to(folder).parts
        ):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            others += 1
    return images, others


def _suffix_list() -> str:
    return ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))


@dataclass(frozen=True)
class OutputPlan:
    """Where the outputs of a batch go: beside each input, into a folder, to one file, or stdout."""

    kind: str  # "beside" | "folder" | "file" | "stdout"
    target: Path | None = None

    @classmethod
    def from_option(
        cls, out: str | None, inputs: InputSet, outputs_per_input: int = 1
    ) -> OutputPlan:
        """Decide what `-o OUT` means for these inputs.

        Raises:
            UsageError: stdout or a single file was asked for more than one output image, or
                stdin input has no `-o`.
        """
        total = len(inputs.items) * outputs_per_input
        if out is None:
            if any(item.path is None for item in inputs.items):
                raise UsageError("reading from stdin needs -o: a file, a folder, or '-' for stdout")
            return cls("beside")
        if out == STDIO:
            if total != 1:
                raise UsageError(
                    f"-o - writes one image to stdout, but this run makes {total}; "
                    "use -o FOLDER (or --grid for one contact sheet per input)"
                )
            return cls("stdout")
        target = Path(out)
        if target.is_dir() or out.endswith(("/", "\\")) or len(inputs.items) > 1:
            return cls("folder", target)
        if not target.suffix:
            # no suffix: the user means a (new) folder
            return cls("folder", target)
        if target.suffix.lower() not in IMAGE_SUFFIXES:
            allowed = ", ".join(sorted(IMAGE_SUFFIXES))
            raise UsageError(
                f"-o {out}: unknown image extension {target.suffix!r} (use one of {allowed}, "
                f"or {out}/ for a folder)"
            )
        if total > 1:
            raise UsageError(
                f"-o {out} is one file, but this run makes {total} images; give a folder instead"
            )
        return cls("file", target)

    def destination(self, item: InputItem, suffix: str) -> Path | str:
        """The output for `item`; `suffix` like `.halftone.png` replaces the input's extension."""
        if self.kind == "stdout":
            return STDIO
        if self.kind == "file":
            assert self.target is not None
            return self.target
        stem = item.relative.stem if item.path is not None else "stdin"
        name = stem + suffix
        if self.kind == "folder":
            assert self.target is not None
            return self.target / item.relative.parent / name
        assert item.path is not None
        return item.path.with_name(item.path.stem + suffix)

    def check_distinct(self, items: Sequence[InputItem], suffix: str) -> None:
        """Refuse a batch in which two inputs would write the same output (`pic.png` and
        `pic.jpg` both make `pic.halftone.png`), before any work is done.

        Raises:
            UsageError: naming both inputs and the output they share.
        """
        if self.kind in ("stdout", "file"):
            return  # one input only (from_option checked)
        seen: dict[Path | str, InputItem] = {}
        for item in items:
            destination = self.destination(item, suffix)
            first = seen.setdefault(destination, item)
            if first is not item:
                raise UsageError(
                    f"{first.label} and {item.label} would both write {destination}; rename "
                    "one of them, or run them separately"
                )


@dataclass
class BatchReport:
    """Counts of a batch run; `exit_code` is 0 when all went well, 1 when any input failed."""

    done: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped_non_images: int = 0
    written: list[str] = field(default_factory=list)

    def wrote(self, destination: Path | str) -> None:
        """Record an output file written (stdout is not one)."""
        if destination != STDIO:
            self.written.append(str(destination))

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def print_summary(self, verbose: bool) -> None:
        """Failures, one line each, then a one-line summary (only for runs where it says more)."""
        for label, reason in self.failed:
            # library messages often name the file already; say it once
            print_error(reason if label in reason else f"{label}: {reason}")
        if verbose or self.failed or self.skipped or self.skipped_non_images:
            parts = [
                f"{self.done} done",
                f"{len(self.skipped)} skipped",
                f"{len(self.failed)} failed",
            ]
            if self.skipped_non_images:
                parts.append(f"{self.skipped_non_images} non-image files ignored")
            note(", ".join(parts))
        if len(self.written) == 1:
            note(f"wrote {self.written[0]}")
        elif self.written:
            folder = os.path.commonpath([Path(p).resolve().parent for p in self.written])
            relative = os.path.relpath(folder)
            shown = folder if relative.startswith("..") else relative
            note(f"wrote {len(self.written)} files to {shown}")


def output_exists(dest: Path | str, overwrite: bool, report: BatchReport) -> bool:
    """True (and the skip reported) when `dest` exists and may not be overwritten."""
    if dest == STDIO or overwrite:
        return False
    path = Path(dest)
    if path.exists():
        report.skipped.append(str(path))
        note(f"skipped {path}: it exists (use --overwrite to replace it)")
        return True
    return False


def precheck_inputs(found: InputSet, report: BatchReport) -> InputSet:
    """The inputs whose headers say they are readable images (`io.probe_image`); the others
    are marked failed in `report`. Run before loading a model, so a bad file is refused at once
    (stdin is read later, as it comes)."""
    from halftint.io import probe_image

    good: list[InputItem] = []
    for item in found.items:
        if item.path is not None:
            try:
                probe_image(item.path)
            except HalftintError as error:
                report.failed.append((item.label, error_text(error)))
                continue
        good.append(item)
    return InputSet(items=good, skipped_non_images=found.skipped_non_images)


def run_batch(
    items: Iterable[InputItem],
    work: Callable[[InputItem, BatchReport], None],
    *,
    description: str,
    report: BatchReport,
    total: int,
) -> BatchReport:
    """Run `work` on every item with a progress bar; an expected failure marks the item failed.

    `work` increments `report.done` itself (it may also skip). Unexpected exceptions propagate:
    they are bugs, and hiding them would hide the traceback needed to fix them.
    """
    show = total >= PROGRESS_MIN_ITEMS and console.is_terminal
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[current]}"),
        console=console,
        disable=not show,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total, current="")
        for item in items:
            progress.update(task, current=item.relative.name)
            try:
                work(item, report)
            except HalftintError as error:
                report.failed.append((item.label, error_text(error)))
            except OSError as error:
                # disk full, permission denied, output folder not writable ...
                reason = error.strerror or str(error)
                where = f" ({error.filename})" if error.filename else ""
                report.failed.append((item.label, f"{reason}{where}"))
            progress.advance(task)
    return report


def find_weights(
    source: str | None,
    *,
    cache_dir: str | None = None,
    offline: bool = False,
    refresh: bool = False,
) -> Manifest:
    """`hub.resolve_bundle` for the command line: says first when a Hub bundle is about to be
    fetched (a first run, or `refresh`), so a slow network is not mistaken for a hang."""
    from halftint.hub import resolve_bundle

    def announce(hub_source: HubSource, endpoint: str) -> None:
        note(f"fetching {hub_source} from {endpoint} ...")

    return resolve_bundle(
        source, cache_dir=cache_dir, offline=offline, refresh=refresh, on_fetch=announce
    )
