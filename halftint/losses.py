"""The training losses of the four stages, as pure functions on tensors, and PSNR.

Images are `(B, C, H, W)` tensors in [0, 1]; codes are `(B, z_dim)`. Every loss returns a scalar
tensor (a mean over the batch unless said otherwise), differentiable where a network needs it.
The weights that combine them are `TrainConfig` fields, not constants here. `psnr` is the one
PSNR of the package: training's validation metrics and `halftint eval` both report it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from halftint.color import rgb_to_ycbcr

HISTOGRAM_BINS = 256
# the PSNR of identical images, in dB: a finite number instead of infinity, which JSON cannot
# hold (metrics.jsonl, bundle.json, `halftint eval --json`); no real estimate comes near it
PSNR_CAP = 100.0


def psnr(estimate: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] (data range 1), at most `PSNR_CAP`.

    Tensors (any device or dtype) or numpy arrays of the same shape; the mean squared error is
    taken over every element, in float64. Values are not clamped: clamp an estimate first where
    it may leave [0, 1].

    Raises:
        ValueError: the shapes differ.
    """
    first, second = _float64(estimate), _float64(truth)
    if first.shape != second.shape:
        raise ValueError(f"images differ in shape: {first.shape} vs {second.shape}")
    mse = float(np.mean((first - second) ** 2))
    if mse == 0.0:
        return PSNR_CAP
    return min(PSNR_CAP, 10.0 * float(np.log10(1.0 / mse)))


def _float64(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        return image.detach().to(device="cpu", dtype=torch.float64).numpy()
    return np.asarray(image, dtype=np.float64)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of the encoder E's code, summed over code dimensions.

    Args:
        mu: `(B, z_dim)` means.
        logvar: `(B, z_dim)` log variances.

    Returns:
        Scalar: the mean over the batch; 0 exactly when `mu == 0` and `logvar == 0`.
    """
    _check_same_shape(mu, logvar, "mu", "logvar")
    per_item = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return per_item.mean()


def least_squares_gan(logit_maps: Sequence[torch.Tensor], target_is_real: bool) -> torch.Tensor:
    """Least-squares GAN loss (LSGAN) summed over the discriminator's scales.

    Args:
        logit_maps: one `(B, 1, h, w)` map per scale, as the discriminator D returns them.
        target_is_real: push the maps towards 1 (real) or towards 0 (fake).

    Returns:
        Scalar: the sum over scales of the mean squared distance to the target label.
    """
    if not logit_maps:
        raise ValueError("least_squares_gan needs at least one logit map")
    label = 1.0 if target_is_real else 0.0
    return torch.stack([(logits - label).pow(2).mean() for logits in logit_maps]).sum()


def latent_regression(recovered_code: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """`|E_mu(G(x, z)) - z|_1`: the code drawn for G must be recoverable from its output."""
    _check_same_shape(recovered_code, code, "recovered_code", "code")
    return (recovered_code - code).abs().mean()


def mode_seeking(
    output_1: torch.Tensor,
    output_2: torch.Tensor,
    code_1: torch.Tensor,
    code_2: torch.Tensor,
    epsilon: float = 1e-5,
) -> torch.Tensor:
    """MSGAN's mode seeking loss: large when two codes give the same image, small otherwise.

    `1 / (mean|output_1 - output_2| / mean|code_1 - code_2| + epsilon)`; minimizing it pushes
    different codes towards different colorizations.

    Args:
        output_1: `(B, C, H, W)` G's output for `code_1`.
        output_2: `(B, C, H, W)` G's output for `code_2`, same input.
        code_1: `(B, z_dim)`.
        code_2: `(B, z_dim)`.
        epsilon: keeps the loss finite (at `1 / epsilon`) for identical outputs.

    Returns:
        Scalar.
    """
    _check_same_shape(output_1, output_2, "output_1", "output_2")
    _check_same_shape(code_1, code_2, "code_1", "code_2")
    ratio = (output_1 - output_2).abs().mean() / (code_1 - code_2).abs().mean()
    return 1.0 / (ratio + epsilon)


def uneven_chroma(image: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """How far each image's colors vary over it: the weighted mean of |chroma - its mean|.

    Chroma is the (Cb, Cr) pair of full-range YCbCr, so a change of brightness alone costs
    nothing. Asked of G's outputs for random codes on crops in one even color (`weights` 1 for
    those, 0 for photos), it says that an even print has one color whatever the code: G may
    choose the color, not paint shapes that are not there.

    Args:
        image: `(B, 3, H, W)` RGB.
        weights: `(B, 1, 1, 1)` per-image weights (e.g. the samples' `smooth` field).

    Returns:
        Scalar: the weighted mean over images of the mean absolute deviation; 0 when every
        weight is 0.
    """
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"uneven_chroma expects (B, 3, H, W), got shape {tuple(image.shape)}")
    if weights.shape != (image.shape[0], 1, 1, 1):
        raise ValueError(
            f"weights must have shape ({image.shape[0]}, 1, 1, 1), got {tuple(weights.shape)}"
        )
    chroma = rgb_to_ycbcr(image)[:, 1:]
    deviation = (chroma - chroma.mean(dim=(2, 3), keepdim=True)).abs().mean(dim=(1, 2, 3))
    flat = weights.flatten().to(deviation.dtype)
    return (deviation * flat).sum() / flat.sum().clamp(min=1.0)


def similarity_matrix(image: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """Cosine similarities between all pairs of `pool`×`pool`-averaged color vectors.

    Args:
        image: `(B, C, H, W)`.
        pool: side of the averaging window (H and W are floored to multiples of it).

    Returns:
        `(B, N, N)` with `N = (H // pool) * (W // pool)`, values in [-1, 1].
    """
    if image.dim() != 4:
        raise ValueError(f"similarity_matrix expects (B, C, H, W), got shape {tuple(image.shape)}")
    vectors = F.avg_pool2d(image, pool).flatten(2)  # (B, C, N)
    vectors = F.normalize(vectors, dim=1, eps=1e-8)
    return torch.bmm(vectors.transpose(1, 2), vectors)


def similarity(output: torch.Tensor, target: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """`Lsim`: L1 between the patch similarity matrices of output and target.

    It asks the output's patches to relate to each other as the target's do (same colors where
    the target has the same colors), whatever the colors themselves are.
    """
    _check_same_shape(output, target, "output", "target")
    return (similarity_matrix(output, pool) - similarity_matrix(target, pool)).abs().mean()


def channel_histograms(channels: torch.Tensor, bins: int = HISTOGRAM_BINS) -> torch.Tensor:
    """True normalized histograms of one-channel images (the targets of H).

    Args:
        channels: `(B, 1, H, W)` in [0, 1]; values are clamped, then binned by `floor(v * bins)`
            (1.0 falls in the last bin).
        bins: number of bins (256: one per 8-bit level).

    Returns:
        `(B, bins)` float, each row summing to 1; dtype and device follow the input.
    """
    if channels.dim() != 4 or channels.shape[1] != 1:
        raise ValueError(
            f"channel_histograms expects a (B, 1, H, W) tensor, got shape {tuple(channels.shape)}"
        )
    values = channels.detach().clamp(0.0, 1.0).flatten(1)
    indices = (values * bins).long().clamp_max(bins - 1)
    counts = torch.zeros(indices.shape[0], bins, device=channels.device, dtype=channels.dtype)
    counts.scatter_add_(1, indices, torch.ones_like(values))
    return counts / indices.shape[1]


def histogram_distance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 distance between histograms, summed over bins, mean over the batch (range [0, 2])."""
    _check_same_shape(predicted, target, "predicted", "target")
    return (predicted - target).abs().sum(dim=1).mean()


def histogram_loss(
    estimator: Callable[[torch.Tensor], torch.Tensor], output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """`Lhist`: distance between H's histograms of the output's and the target's channels.

    Args:
        estimator: the (frozen) histogram estimator H, `(N, 1, S, S) -> (N, 256)`.
        output: `(B, 3, S, S)` colorization; gradients flow through H back into it.
        target: `(B, 3, S, S)` ground truth.

    Returns:
        Scalar: `histogram_distance` averaged over the batch and the three channels.
    """
    _check_same_shape(output, target, "output", "target")
    batch, channels, height, width = output.shape
    as_channels = torch.cat([output, target.detach()]).reshape(-1, 1, height, width)
    histograms = estimator(as_channels)
    predicted, wanted = histograms.split(batch * channels)
    return histogram_distance(predicted, wanted)


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
