"""Command-line interface: `halftint COMMAND ...`.

`main()` runs the Typer app without Click's standalone error handling, so that every expected
failure (bad option, unreadable file, missing weights) becomes one line on stderr and an exit
code: 2 for usage errors, 1 when some inputs failed, 0 on success.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import warnings
from typing import TextIO

import typer

from halftint.cli import (  # noqa: F401  (importing a command module registers its commands)
    colorize_cmd,
    eval_cmd,
    halftone_cmd,
    info_cmd,
    train_cmd,
    weights_cmd,
)
from halftint.cli.app import app
from halftint.cli.common import error_text, print_error
from halftint.errors import HalftintError


def _one_line_warning(  # noqa: PLR0917  (the signature of warnings.showwarning)
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as one line on stderr, in the CLI's voice (no file names, no source lines)."""
    del category, filename, lineno, file, line
    print(f"halftint: warning: {message}", file=sys.stderr)


def _watch_for_ctrl_c() -> list[bool]:
    """Note a Ctrl-C (then interrupt as Python does); the list is true once one came."""
    seen: list[bool] = []
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return seen  # ignored or handled by the caller: leave it so

    def handle(number: int, frame: object) -> None:
        seen.append(True)
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread: nothing to watch
        signal.signal(signal.SIGINT, handle)
    return seen


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its status code."""
    warnings.showwarning = _one_line_warning
    interrupted = _watch_for_ctrl_c()
    try:
        code = app(args=argv, prog_name="halftint", standalone_mode=False)
        # typer turns a KeyboardInterrupt into a plain exit code 130, saying nothing
        if code == 130 and interrupted:
            print_error("interrupted")
    except (typer.Abort, KeyboardInterrupt):
        print_error("interrupted")
        code = 130
    except typer.TyperException as error:
        # Click's own errors (unknown option, missing argument: usage errors, exit 2)
        message = str(error.format_message())
        ctx = getattr(error, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print_error(message + hint)
        code = int(getattr(error, "exit_code", 2))
    except HalftintError as error:
        # library messages name settings; error_text names them as this command line's options
        print_error(error_text(error))
        code = error.exit_code
    except BrokenPipeError:
        # the reader of our stdout went away (e.g. `| head`): not an error worth a message
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
