"""The `eval` command(s)."""

from __future__ import annotations
