"""The Typer application objects; command modules register themselves on them.

Nothing here imports torch: `halftint --help` and `--version` must answer fast.
"""

from __future__ import annotations

import typer

from halftint._version import __version__

app = typer.Typer(
    name="halftint",
    help="Turn black-and-white halftone prints into color photographs.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help texts are plain text: brackets such as `hf://OWNER/REPO[/SUBDIR]` are not markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
weights_app = typer.Typer(
    help="List, download, verify, publish and convert weights bundles.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
train_app = typer.Typer(
    help="Train the networks on your own photos.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(weights_app, name="weights")
app.add_typer(train_app, name="train")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"halftint {__version__}")
        raise typer.Exit(0)


def _help_when_bare(ctx: typer.Context) -> None:
    # a bare group (`halftint`, `halftint weights`) shows its help and succeeds
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


weights_app.callback()(_help_when_bare)
train_app.callback()(_help_when_bare)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Turn black-and-white halftone prints into color photographs."""
    _help_when_bare(ctx)
