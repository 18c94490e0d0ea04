"""The `halftone` command(s)."""

from __future__ import annotations
