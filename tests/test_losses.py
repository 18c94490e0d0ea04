"""Loss functions on cases whose values are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from halftint import losses
from halftint.nets import HistogramConfig, HistogramEstimator


def test_kl_of_the_standard_normal_is_zero() -> None:
    zeros = torch.zeros(5, 8)
    assert losses.kl_to_standard_normal(zeros, zeros).item() == 0.0


def test_kl_of_a_shifted_normal_is_half_the_squared_shift_per_dimension() -> None:
    mu = torch.ones(3, 8)
    assert losses.kl_to_standard_normal(mu, torch.zeros(3, 8)).item() == pytest.approx(4.0)
    # variance e instead of 1: 0.5 * (e - 1 - 1) per dimension
    logvar = torch.ones(2, 8)
    expected = 8 * 0.5 * (math.e - 2.0)
    assert losses.kl_to_standard_normal(torch.zeros(2, 8), logvar).item() == pytest.approx(expected)


def test_least_squares_gan_sums_the_scales() -> None:
    ones = [torch.ones(2, 1, 6, 6), torch.ones(2, 1, 3, 3)]
    zeros = [torch.zeros(2, 1, 6, 6), torch.zeros(2, 1, 3, 3)]
    assert losses.least_squares_gan(ones, target_is_real=True).item() == 0.0
    assert losses.least_squares_gan(zeros, target_is_real=False).item() == 0.0
    assert losses.least_squares_gan(zeros, target_is_real=True).item() == 2.0
    assert losses.least_squares_gan([torch.full((1, 1, 4, 4), 0.5)], True).item() == 0.25
    with pytest.raises(ValueError, match="at least one"):
        losses.least_squares_gan([], True)


def test_latent_regression_is_the_mean_absolute_error() -> None:
    code = torch.zeros(2, 8)
    assert losses.latent_regression(code + 0.5, code).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"\(2, 8\) and \(2, 4\)"):
        losses.latent_regression(code, torch.zeros(2, 4))


def test_mode_seeking_is_large_for_identical_outputs_and_small_for_different_ones() -> None:
    output = torch.rand(2, 3, 16, 16)
    code_1, code_2 = torch.zeros(2, 8), torch.ones(2, 8)
    same = losses.mode_seeking(output, output.clone(), code_1, code_2).item()
    assert same == pytest.approx(1e5)
    different = losses.mode_seeking(
        torch.zeros(2, 3, 16, 16), torch.ones(2, 3, 16, 16), code_1, code_2
    )
    # mean |difference| of images 1, of codes 1: 1 / (1 + 1e-5)
    assert different.item() == pytest.approx(1.0, rel=1e-4)


def test_mode_seeking_pushes_the_outputs_apart() -> None:
    output_1 = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    output_2 = torch.full((1, 3, 8, 8), 0.6)
    loss = losses.mode_seeking(output_1, output_2, torch.zeros(1, 8), torch.ones(1, 8))
    loss.backward()
    assert output_1.grad is not None
    # lowering output_1 (away from output_2) lowers the loss
    assert (output_1.grad > 0).all()


def test_similarity_matrix_shape_and_diagonal() -> None:
    image = torch.rand(2, 3, 16, 12) + 0.1
    matrix = losses.similarity_matrix(image, pool=4)
    assert matrix.shape == (2, 12, 12)
    assert torch.allclose(matrix.diagonal(dim1=1, dim2=2), torch.ones(2, 12), atol=1e-5)
    assert matrix.min() >= -1.0 - 1e-5 and matrix.max() <= 1.0 + 1e-5


def test_similarity_ignores_brightness_but_not_relations() -> None:
    image = torch.rand(1, 3, 16, 16) + 0.1
    # scaling every color vector keeps every cosine: nothing to correct
    assert losses.similarity(image * 0.5, image).item() == pytest.approx(0.0, abs=1e-6)
    # two halves of different hue versus a flat image: relations differ
    halves = torch.zeros(1, 3, 16, 16)
    halves[:, 0, :, :8] = 1.0
    halves[:, 2, :, 8:] = 1.0
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert losses.similarity(flat, halves).item() == pytest.approx(0.5, abs=1e-5)


def test_channel_histograms_count_levels() -> None:
    gray = torch.full((1, 1, 4, 4), 0.5)
    histogram = losses.channel_histograms(gray)
    assert histogram.shape == (1, 256)
    assert histogram[0, 128].item() == 1.0
    extremes = torch.tensor([0.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    histogram = losses.channel_histograms(extremes)
    assert histogram[0, 0].item() == 0.5 and histogram[0, 255].item() == 0.5
    assert torch.allclose(losses.channel_histograms(torch.rand(3, 1, 9, 7)).sum(1), torch.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\)"):
        losses.channel_histograms(torch.rand(2, 3, 4, 4))


def test_histogram_distance_ranges_from_zero_to_two() -> None:
    first = torch.zeros(1, 256)
    first[0, 0] = 1.0
    second = torch.zeros(1, 256)
    second[0, 255] = 1.0
    assert losses.histogram_distance(first, first).item() == 0.0
    assert losses.histogram_distance(first, second).item() == 2.0


def test_histogram_loss_is_zero_for_the_target_and_reaches_the_output() -> None:
    torch.manual_seed(0)
    estimator = HistogramEstimator(HistogramConfig(input_size=16, channels=(4, 4, 4))).eval()
    target = torch.rand(2, 3, 16, 16)
    assert losses.histogram_loss(estimator, target.clone(), target).item() == 0.0
    output = torch.rand(2, 3, 16, 16, requires_grad=True)
    loss = losses.histogram_loss(estimator, output, target)
    loss.backward()
    assert loss.item() > 0
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_psnr_of_identical_images_is_the_cap_for_tensors_and_arrays() -> None:
    image = torch.rand(2, 3, 8, 8)
    assert losses.psnr(image, image.clone()) == losses.PSNR_CAP
    assert losses.psnr(image.numpy(), image.numpy().copy()) == losses.PSNR_CAP
    assert losses.psnr(image.to(torch.bfloat16), image.to(torch.bfloat16)) == losses.PSNR_CAP
    json.dumps({"psnr": losses.psnr(image, image)}, allow_nan=False)


def test_psnr_is_the_same_for_a_tensor_and_its_array() -> None:
    truth = torch.zeros(1, 1, 8, 8)
    estimate = torch.full((1, 1, 8, 8), 0.1)
    assert losses.psnr(estimate, truth) == pytest.approx(20.0)
    assert losses.psnr(estimate, truth) == losses.psnr(estimate.numpy(), np.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"\(1, 1, 8, 8\) vs \(1, 1, 8, 9\)"):
        losses.psnr(estimate, torch.zeros(1, 1, 8, 9))


def test_uneven_chroma_counts_colors_that_vary_not_brightness_nor_unweighted_images() -> None:
    torch.manual_seed(0)
    gray = torch.rand(1, 1, 16, 16)
    even = torch.cat([gray, gray * 0.8, gray * 0.6], dim=1)  # not gray, but hue and tone vary
    tinted = gray.expand(-1, 3, -1, -1) + torch.tensor([0.1, -0.05, 0.0]).view(1, 3, 1, 1)
    stripes = gray.expand(-1, 3, -1, -1).clone()
    stripes[:, 0, :, ::2] += 0.2  # red on every other column
    one = torch.ones(1, 1, 1, 1)
    # brightness alone, and one cast over the whole image, cost nothing
    assert losses.uneven_chroma(gray.expand(-1, 3, -1, -1), one) < 1e-6
    assert losses.uneven_chroma(tinted, one) < 1e-6
    assert losses.uneven_chroma(stripes, one) > 0.02
    assert losses.uneven_chroma(even, one) > 0.0
    batch = torch.cat([stripes, tinted])
    weights = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)
    assert losses.uneven_chroma(batch, weights) < 1e-6  # only the weighted image counts
    assert losses.uneven_chroma(batch, torch.zeros(2, 1, 1, 1)) == 0.0
    with pytest.raises(ValueError, match=r"weights must have shape \(2, 1, 1, 1\)"):
        losses.uneven_chroma(batch, torch.ones(2))
