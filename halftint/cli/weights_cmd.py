"""`halftint weights list | download | verify | push | convert`: manage weights bundles.

A SRC is what `--weights` takes everywhere: a bundle folder, `hf://OWNER/REPO[/SUBDIR][@REV]`,
or the name of a bundle shipped with halftint. Paths and sources go to stdout (so that
`halftint colorize --weights "$(halftint weights download hf://...)"` works); notes to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from halftint.cli.app import register, weights_app
from halftint.cli.common import CACHE_DIR_OPTION, OFFLINE_OPTION, find_weights, note, print_error
from halftint.errors import UsageError, WeightsError

if TYPE_CHECKING:
    from torch import nn

STORAGE_DTYPES = ("float16", "bfloat16", "float32")

SOURCE_ARGUMENT_HELP = "A bundle folder, hf://OWNER/REPO[/SUBDIR][@REVISION], or an embedded name."


def human_size(size: int) -> str:
    """Bytes as a short decimal size: 950 B, 12.3 kB, 4.1 MB, 1.2 GB."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


@register(weights_app, "list")
def list_command(
    cache_dir: str | None = CACHE_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """List the bundles shipped with halftint and those in the Hugging Face cache, with sizes."""
    from halftint.hub import cache_folder, list_bundles

    entries = list_bundles(cache_dir)
    if as_json:
        rows = [
            {
                "source": entry.source,
                "origin": entry.origin,
                "path": str(entry.path),
                "size": entry.size,
                "preset": entry.preset,
                "name": entry.name,
                "complete": entry.complete,
                "refs": list(entry.refs),
                "commit": entry.commit,
            }
            for entry in entries
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        note(f"no bundles: none ships with this halftint and none is in {cache_folder(cache_dir)}")
        return
    table = [("SOURCE", "ORIGIN", "PRESET", "SIZE", "STATE")]
    for entry in entries:
        state = "complete" if entry.complete else "incomplete"
        table.append(
            (entry.source, entry.origin, entry.preset or "?", human_size(entry.size), state)
        )
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    for row in table:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@register(weights_app)
def download(
    source: str = typer.Argument(..., help=SOURCE_ARGUMENT_HELP),
    cache_dir: str | None = CACHE_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Fetch a bundle into the cache now (for offline machines); prints its folder.

    For a branch or tag this asks the Hub where it points now, so it also updates a cached
    bundle whose branch has moved on (other commands reuse the cached commit without asking).
    """
    from halftint.hub import is_hub_source

    manifest = find_weights(source, cache_dir=cache_dir, offline=offline, refresh=True)
    folder = manifest.folder
    if is_hub_source(source):
        size = sum((folder / relative).stat().st_size for relative in manifest.files)
        note(
            f"{source}: {len(manifest.files)} files ({human_size(size)}) sha256-verified in "
            f"{folder}"
        )
    else:
        note(f"{source} is a local bundle: nothing to download (check it: halftint weights verify)")
    typer.echo(str(folder))


@register(weights_app)
def verify(
    source: str = typer.Argument(..., help=SOURCE_ARGUMENT_HELP),
    cache_dir: str | None = CACHE_DIR_OPTION,
) -> None:
    """Re-check the sha256 of every file of a bundle (a Hub bundle: its cached copy).

    Exit code 1 when a file is missing or differs; a bad file in the Hub cache is removed so
    that the next use downloads it again. Never contacts the Hub.
    """
    from halftint.bundle import verify as verify_bundle
    from halftint.hub import (
        cache_folder,
        cached_bundle,
        is_hub_source,
        parse_hub_source,
        resolve_bundle,
        verify_cached,
    )

    in_cache = is_hub_source(source)
    if in_cache:
        manifest = cached_bundle(parse_hub_source(source), cache_dir)
        if manifest is None:
            raise WeightsError(
                f"{source} is not (completely) in the cache {cache_folder(cache_dir)}; fetch it "
                f"with `halftint weights download {source}`"
            )
        result = verify_cached(manifest)
    else:
        result = verify_bundle(resolve_bundle(source))
    folder = result.folder
    for problem in result.problems:
        print_error(f"{folder}: {problem.describe()}")
    if result.problems:
        removed = "; bad files were removed from the cache" if in_cache else ""
        raise WeightsError(f"{len(result.problems)} of {result.files} files failed{removed}")
    note(f"ok: all {result.files} files match bundle.json ({human_size(result.size)}) in {folder}")


@register(weights_app)
def push(
    bundle: Path = typer.Argument(..., help="The bundle folder to publish."),
    *,
    repo_id: str = typer.Option(..., "--repo-id", help="The Hub model repository, OWNER/REPO."),
    revision: str | None = typer.Option(
        None, "--revision", help="Branch to commit to (created if missing; default main)."
    ),
    private: bool = typer.Option(
        False, "--private", help="Create the repository as private (an existing one is unchanged)."
    ),
    path_in_repo: str | None = typer.Option(
        None, "--path-in-repo", help="Put the bundle in this folder of the repository."
    ),
    message: str | None = typer.Option(None, "--message", "-m", help="The commit message."),
) -> None:
    """Publish a bundle to the Hugging Face Hub; prints its hf:// source, pinned to the commit.

    Needs a token with write access (`hf auth login` or HF_TOKEN). The bundle is verified
    first; its README.md (generated from bundle.json when it was saved) is the model card.
    """
    from halftint.hub import push_bundle

    published = push_bundle(
        bundle,
        repo_id,
        revision=revision,
        private=private,
        subfolder=path_in_repo,
        commit_message=message,
    )
    note(f"published {bundle} to {repo_id} (commit {published.revision})")
    typer.echo(str(published))


@register(weights_app)
def convert(
    source: str = typer.Argument(..., help=SOURCE_ARGUMENT_HELP),
    out: Path = typer.Argument(..., help="The new bundle folder."),
    *,
    dtype: str = typer.Option(
        "float16", "--dtype", help=f"Storage type of the weights: {', '.join(STORAGE_DTYPES)}."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
    cache_dir: str | None = CACHE_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
) -> None:
    """Save a copy of a bundle with its weights stored as another dtype (float16 halves the size).

    Prints OUT; reports the sizes and the largest change of any weight.
    """
    if dtype not in STORAGE_DTYPES:
        raise UsageError(f"--dtype {dtype!r} is not supported; choose {', '.join(STORAGE_DTYPES)}")
    if out.exists() and not overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it")

    from halftint.bundle import photo_spreads
    from halftint.checkpoint import load_bundle, save_bundle
    from halftint.hub import resolve_bundle

    original = load_bundle(resolve_bundle(source, cache_dir=cache_dir, offline=offline))
    meta = original.meta
    save_bundle(
        out,
        original.networks,
        preset=meta["preset"],
        working_size=meta["working_size"],
        halftone_methods=list(meta["halftone_methods"]),
        data=meta["data"],
        metrics=meta.get("metrics"),
        name=meta.get("name"),
        dtype=dtype,
        overwrite=overwrite,
        parent=meta.get("parent"),
        screen_periods=meta.get("screen_periods"),
        reverse_halftone=original.reverse_halftone,
        photo_spreads=photo_spreads(meta),
    )
    converted = load_bundle(out)
    change = largest_weight_change(original.networks, converted.networks)
    note(
        f"{human_size(_bundle_size(original.path))} -> {human_size(_bundle_size(out))} as {dtype}; "
        f"largest weight change {change:.3g}"
    )
    typer.echo(str(out))


def largest_weight_change(before: dict[str, nn.Module], after: dict[str, nn.Module]) -> float:
    """The largest absolute difference between matching floating-point tensors of two net sets."""
    largest = 0.0
    for name, network in before.items():
        converted = after[name].state_dict()
        for key, tensor in network.state_dict().items():
            if tensor.is_floating_point():
                difference = (tensor.double() - converted[key].double()).abs().max()
                largest = max(largest, float(difference))
    return largest


def _bundle_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
