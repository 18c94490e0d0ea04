"""Inference: the networks of a weights bundle composed into one halftone-to-color pipeline.

Tensors in, tensors out (files and terminals are the CLI's business). `Colorizer` is the entry
point (the colors it is asked for are a `halftint.coloring.ColorSource`); `tiling`, `noise`,
`memory` and `device` are its parts, and `sheets` lays results out as grids.
"""

from halftint.devices import resolve_device
from halftint.pipeline.colorizer import Colorizer, Prepared
from halftint.pipeline.device import PRECISIONS, resolve_precision

__all__ = ["PRECISIONS", "Colorizer", "Prepared", "resolve_device", "resolve_precision"]
