"""`halftint info`: what this installation is and can use (versions, devices, caches, weights).

`--preset NAME` adds the preset's networks with their parameter counts; `--weights SRC` adds a
bundle's metadata, verified, with each network's parameter count computed from its config.
With either, only those sections are printed (JSON: `{"preset": {...}, "weights": {...}}`).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from typing import Any

import typer
from rich.markup import escape

from halftint._version import __version__
from halftint.cli.app import app, register
from halftint.cli.common import console
from halftint.errors import UsageError


def system_info() -> dict[str, Any]:
    """Versions, devices and cache folders, as a JSON-ready dict."""
    import torch

    from halftint.hub import cache_folder

    devices = ["cpu"]
    cuda = torch.cuda.is_available()
    if cuda:
        devices += [
            f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())
        ]
    return {
        "halftint": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": devices,
        "cpu_threads": torch.get_num_threads(),
        "cache_folder": str(cache_folder()),
        "default_weights": _default_weights(),
    }


def _default_weights() -> str:
    """What colorize and descreen use without --weights: `$HALFTINT_WEIGHTS` or the shipped
    bundle, with its preset and parameter count (from its bundle.json: nothing is loaded)."""
    from halftint.bundle import read_manifest
    from halftint.errors import WeightsError
    from halftint.hub import DEFAULT_BUNDLE, ENVIRONMENT_VARIABLE, embedded_bundles

    chosen = os.environ.get(ENVIRONMENT_VARIABLE)
    if chosen:
        return f"{chosen} (from ${ENVIRONMENT_VARIABLE})"
    folder = embedded_bundles().get(DEFAULT_BUNDLE)
    if folder is None:
        return "none shipped"
    try:
        meta = read_manifest(folder).meta
    except WeightsError as error:
        return f"{DEFAULT_BUNDLE} (unreadable: {error})"
    parameters = sum(int(row.get("parameters", 0)) for row in meta["networks"].values())
    return f"{DEFAULT_BUNDLE} (shipped; preset {meta['preset']}, {parameters:,} parameters)"


def _network_rows(networks: Mapping[str, tuple[str | None, dict[str, Any]]]) -> dict[str, Any]:
    """{key: {"class", "parameters", "config"}} for networks given as (class name, config)."""
    import torch

    from halftint.checkpoint import build_network, count_parameters

    rows: dict[str, Any] = {}
    # the meta device allocates nothing, so even the paper's 138 M parameters count instantly
    with torch.device("meta"):
        for key, (class_name, config) in networks.items():
            network = build_network(key, config, class_name)
            rows[key] = {
                "class": type(network).__name__,
                "parameters": count_parameters(network),
                "config": config,
            }
    return rows


def preset_info(name: str) -> dict[str, Any]:
    """A preset's working size and networks (class, parameter count, config), JSON-ready.

    Raises:
        UsageError: no preset has that name.
    """
    import dataclasses

    from halftint.nets import NETWORK_CLASSES, get_preset

    try:
        preset = get_preset(name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    networks = {key: (None, dataclasses.asdict(getattr(preset, key))) for key in NETWORK_CLASSES}
    rows = _network_rows(networks)
    return {
        "name": preset.name,
        "working_size": preset.working_size,
        "total_parameters": sum(row["parameters"] for row in rows.values()),
        "networks": rows,
    }


def weights_info(source: str) -> dict[str, Any]:
    """A bundle's metadata after verifying every file, with parameter counts from its configs.

    Raises:
        WeightsError: the source cannot be resolved, or the bundle is not valid.
    """
    from halftint.bundle import reverse_halftone_method, verified
    from halftint.checkpoint import read_network_config
    from halftint.hub import resolve_bundle

    manifest = verified(resolve_bundle(source))
    folder, meta = manifest.folder, manifest.meta
    rows = _network_rows({key: read_network_config(folder, key) for key in meta["networks"]})
    return {
        "path": str(folder),
        "verified": True,
        **meta,
        "reverse_halftone": reverse_halftone_method(meta),
        "networks": rows,
        "total_parameters": sum(row["parameters"] for row in rows.values()),
    }


def _print_networks(title: str, data: dict[str, Any], fields: list[str]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("network")
    table.add_column("class")
    table.add_column("parameters", justify="right")
    for key, row in data["networks"].items():
        table.add_row(key, row["class"], f"{row['parameters']:,}")
    table.add_row("total", "", f"{data['total_parameters']:,}", style="bold")
    console.print(table)
    for key in fields:
        value = data.get(key)
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value) or "-"
        elif isinstance(value, dict):
            if key == "metrics" and value:
                _print_metrics(value)
                continue
            value = json.dumps(value) if value else "-"
        console.print(
            f"[bold]{key:>17}[/]  {escape(str(value))}",
            soft_wrap=True,
            markup=True,
            highlight=False,
        )


def _print_metrics(metrics: dict[str, Any]) -> None:
    """A bundle's recorded metrics as a table of dotted names and values."""
    from rich.table import Table

    from halftint.bundle import flatten_metrics

    table = Table(title="metrics", title_justify="left", show_edge=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in flatten_metrics(metrics):
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        table.add_row(escape(name), escape(shown))
    console.print(table)


@register(app)
def info(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
    preset: str | None = typer.Option(
        None, "--preset", help="Show this preset's networks and parameter counts (paper, lite)."
    ),
    weights: str | None = typer.Option(
        None,
        "--weights",
        help="Verify a weights bundle (folder, hf://OWNER/REPO[@REV], or shipped name) and "
        "show its metadata and parameter counts.",
    ),
) -> None:
    """Show versions, devices and cache folders, or a preset's or a weights bundle's networks."""
    if preset is None and weights is None:
        data = system_info()
        if as_json:
            typer.echo(json.dumps(data, indent=2))
            return
        for key, value in data.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            console.print(f"[bold]{key:>15}[/]  {shown}", soft_wrap=True)
        return
    sections: dict[str, Any] = {}
    if preset is not None:
        sections["preset"] = preset_info(preset)
    if weights is not None:
        sections["weights"] = weights_info(weights)
    if as_json:
        typer.echo(json.dumps(sections, indent=2))
        return
    if "preset" in sections:
        _print_networks(f"preset {preset}", sections["preset"], ["working_size"])
    if "weights" in sections:
        fields = ["path", "name", "preset", "working_size", "halftone_methods", "reverse_halftone"]
        fields += ["data"]
        fields += ["metrics", "dtype", "halftint_version", "created", "verified"]
        _print_networks(f"weights {sections['weights']['name']}", sections["weights"], fields)
