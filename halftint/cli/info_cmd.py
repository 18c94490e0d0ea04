"""`halftint info`: what this installation is and can use (versions, devices, caches, weights)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import typer

from halftint._version import __version__
from halftint.cli.app import app
from halftint.cli.common import console


def _hf_cache_folder() -> str:
    # the same resolution order huggingface_hub uses, without importing it (it is slow to import)
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    hf_home = os.environ.get("HF_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    )
    return str(Path(hf_home) / "hub")


def system_info() -> dict[str, Any]:
    """Versions, devices and cache folders, as a JSON-ready dict."""
    import torch

    devices = ["cpu"]
    cuda = torch.cuda.is_available()
    if cuda:
        devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    return {
        "halftint": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "devices": devices,
        "cpu_threads": torch.get_num_threads(),
        "cache_folder": _hf_cache_folder(),
    }


@app.command()
def info(
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON on stdout."),
) -> None:
    """Show versions, devices and cache folders."""
    data = system_info()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        console.print(f"[bold]{key:>15}[/]  {shown}", soft_wrap=True)
