"""The Typer application objects; command modules register themselves on them.

Nothing here imports torch: `halftint --help` and `--version` must answer fast.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from typer.core import TyperCommand

from halftint._version import __version__

# the "<str>", "<list[str]>", "<int range>" that Typer puts after a name without a metavar
_TYPE_HINT = re.compile(r" <[^<>]*>$")


def _plain_name(param: Any) -> str:
    """An argument's name as the usage line and help show it: its metavar or its name in
    capitals, with "..." when it takes several values."""
    name = param.metavar or (param.name or "").upper()
    if param.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name


class PlainHelpCommand(TyperCommand):
    """A command whose help shows plain metavars: `INPUT...` and `SOURCE OUT` in the usage line
    (not Typer's `{INPUT...}...` and `{source} {out}`), and `--output OUTPUT` or an explicit
    metavar in the options (not `--output <str>`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _plain_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if param.param_type_name == "argument":
                arguments.append((_plain_name(param), text))
            else:
                options.append((_TYPE_HINT.sub(f" {(param.name or '').upper()}", name), text))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def register(target: typer.Typer, name: str | None = None, **settings: Any) -> Any:
    """`target.command(...)` with plain help (`PlainHelpCommand`): how every command registers."""
    return target.command(name, cls=PlainHelpCommand, **settings)


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
