"""The `colorize and descreen` command(s)."""

from __future__ import annotations
