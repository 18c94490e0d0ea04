"""The `weights` command(s)."""

from __future__ import annotations
