"""Errors that halftint expects and reports as one line, never as a traceback.

Library code raises these (or plain ValueError for programming errors); the CLI turns them into
a one-line message on stderr and an exit code.

A message that names a setting or argument holds it as a `Setting`, so that each interface names
it in its own words: `str(error)` says it as Python callers pass it (`device='cpu'`,
`resume=True`), the CLI as its option (`--device cpu`, `--resume`; see `HalftintError.render`
and `halftint.cli.common.error_text`). Library messages so never tell a Python caller to pass
a command-line flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """A setting or argument named in an error message, with a value to give it (None: just
    the name; True: a switch turned on)."""

    name: str
    value: object = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value!r}"


class HalftintError(Exception):
    """An expected failure with a message a user can act on.

    `HalftintError(message)` is that message. With keyword fields, `message` is a `str.format`
    template they fill in; a field may be a `Setting` (spelled by whoever shows the message) or
    another HalftintError (its message, spelled alike).
    """

    exit_code = 1

    def __init__(self, message: str = "", /, **fields: object) -> None:
        self.template = message
        self.fields = fields
        super().__init__(message.format(**fields) if fields else message)

    def render(self, spell: Callable[[Setting], str]) -> str:
        """The message with each `Setting` in it spelled by `spell` (`str(error)`: by `str`)."""
        if not self.fields:
            return str(self)
        values = {name: _spelled(value, spell) for name, value in self.fields.items()}
        return self.template.format(**values)


def _spelled(value: object, spell: Callable[[Setting], str]) -> object:
    if isinstance(value, Setting):
        return spell(value)
    if isinstance(value, HalftintError):
        return value.render(spell)
    return value


class UsageError(HalftintError):
    """The command line asked for something impossible (bad option value, missing input): exit 2."""

    exit_code = 2


class InputError(HalftintError):
    """One input could not be processed (unreadable, truncated, not an image): exit 1."""


class WeightsError(HalftintError):
    """Weights could not be found, fetched, verified or loaded."""
