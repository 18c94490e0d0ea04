"""Canny edge maps: binary, shaped like the input, where the image actually has edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from halftint.edges import CANNY_HIGH_THRESHOLD, CANNY_LOW_THRESHOLD, canny_edges


def _step_image(height: int = 32, width: int = 40) -> torch.Tensor:
    gray = torch.zeros(1, 1, height, width)
    gray[..., :, width // 2 :] = 1.0
    return gray


def test_flat_image_has_no_edges() -> None:
    edges = canny_edges(torch.full((2, 1, 17, 23), 0.4))
    assert edges.shape == (2, 1, 17, 23)
    assert edges.sum().item() == 0


def test_vertical_step_gives_edges_only_at_the_step() -> None:
    edges = canny_edges(_step_image())
    assert set(edges.unique().tolist()) == {0.0, 1.0}
    columns = edges[0, 0].nonzero()[:, 1].unique().tolist()
    assert columns and all(abs(column - 20) <= 1 for column in columns)
    # every row crosses the step once
    assert edges[0, 0].sum(dim=1).min().item() >= 1


def test_matches_opencv_on_the_8bit_image() -> None:
    generator = torch.Generator().manual_seed(3)
    gray = torch.rand(1, 1, 24, 24, generator=generator)
    eight_bit = (gray[0, 0] * 255).round().to(torch.uint8).numpy()
    expected = cv2.Canny(eight_bit, CANNY_LOW_THRESHOLD, CANNY_HIGH_THRESHOLD) > 0
    assert np.array_equal(canny_edges(gray)[0, 0].numpy().astype(bool), expected)


def test_batch_items_are_independent() -> None:
    batch = torch.cat([_step_image(), torch.full((1, 1, 32, 40), 0.5)])
    edges = canny_edges(batch)
    assert edges[0].sum().item() > 0
    assert edges[1].sum().item() == 0
    assert torch.equal(edges[0], canny_edges(_step_image())[0])


def test_out_of_range_values_are_clamped_and_dtype_follows() -> None:
    stretched = _step_image().double() * 3.0 - 1.0  # -1 .. 2 clamps to the same 0 .. 1 step
    edges = canny_edges(stretched)
    assert edges.dtype == torch.float64
    assert torch.equal(edges.float(), canny_edges(_step_image()))


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (8, 8), (1, 1, 8)])
def test_rejects_bad_shapes_naming_them(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        canny_edges(torch.zeros(shape))
