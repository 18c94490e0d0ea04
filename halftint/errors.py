"""Errors that halftint expects and reports as one line, never as a traceback.

Library code raises these (or plain ValueError for programming errors); the CLI turns them into
a one-line message on stderr and an exit code.
"""

from __future__ import annotations


class HalftintError(Exception):
    """An expected failure with a message a user can act on."""

    exit_code = 1


class UsageError(HalftintError):
    """The command line asked for something impossible (bad option value, missing input): exit 2."""

    exit_code = 2


class InputError(HalftintError):
    """One input could not be processed (unreadable, truncated, not an image): exit 1."""


class WeightsError(HalftintError):
    """Weights could not be found, fetched, verified or loaded."""
