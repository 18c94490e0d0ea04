"""The halftint CLI with the tiny test preset registered: `python tests/tiny_cli.py train ...`.

Training runs in subprocess tests (and under torchrun) use the real command line; only the
network sizes are the tiny ones of `conftest.tiny_preset`, so that a run takes seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import tiny_preset

from halftint.cli import main
from halftint.nets.presets import PRESETS

if __name__ == "__main__":
    PRESETS["tiny"] = tiny_preset()
    main()
