"""Stage 2, `hist`: the histogram estimator H learns each channel's histogram (supplementary §1.3).

H is trained on the channels of photo crops against their true normalized 256-bin histograms,
with a cross-entropy against the soft target (the distribution it has to predict); the L1
distance between histograms is logged as the plain-language measure. Frozen afterwards, H
provides the colorizer's histogram loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from halftint.losses import channel_histograms, histogram_distance
from halftint.nets import HistogramEstimator
from halftint.train.stage import Preview, Stage, fit_square


class HistogramStage(Stage):
    """Trains H on the R, G and B channels of color crops."""

    name = "hist"
    trained = ("histogram",)
    fields = ("color",)

    def _channels(self, color: torch.Tensor) -> torch.Tensor:
        size = self.network("histogram", HistogramEstimator).config.input_size
        fitted = fit_square(color, size)
        return fitted.reshape(-1, 1, size, size)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        estimator = self.network("histogram", HistogramEstimator)
        channels = self._channels(batch["color"])
        target = channel_histograms(channels, estimator.config.bins)
        with self.hardware.autocast():
            logits = estimator.logits(channels)
        loss = F.cross_entropy(logits.float(), target)
        self.optimize(self.optimizers[self.name], loss, self.trained)
        distance = histogram_distance(logits.detach().float().softmax(dim=1), target)
        return {"cross_entropy": loss.item(), "l1": distance.item()}

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> Preview:
        estimator = self.network("histogram", HistogramEstimator)
        channels = self._channels(batch["color"])
        target = channel_histograms(channels, estimator.config.bins)
        with self.evaluating():
            predicted = estimator(channels).float()
        size = channels.shape[-1]
        # one row per image: its R, G, B channels, then the three histogram charts
        count = batch["color"].shape[0]
        charts = histogram_chart(predicted, target, size).reshape(count, 3, 3, size, size)
        per_image = channels.reshape(count, 3, 1, size, size)
        columns: dict[str, torch.Tensor] = {}
        for index, name in enumerate(("red", "green", "blue")):
            columns[name] = per_image[:, index]
        for index, name in enumerate(("red", "green", "blue")):
            columns[f"{name} histogram"] = charts[:, index]
        return Preview(
            columns=columns, metrics={"l1": histogram_distance(predicted, target).item()}
        )


def histogram_chart(predicted: torch.Tensor, target: torch.Tensor, size: int) -> torch.Tensor:
    """Draw histograms as `(N, 3, size, size)` charts: true in gray bars, predicted in red.

    Both are scaled by the larger of their maxima, so their heights compare directly.
    """
    count = target.shape[0]
    columns = F.interpolate(torch.stack([target, predicted], 1), size=size, mode="linear")
    peak = columns.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    heights = (columns / peak * (size - 1)).round().long()  # (N, 2, size)
    rows = torch.arange(size - 1, -1, -1, device=target.device).view(1, size, 1)
    bars = rows <= heights[:, 0:1]  # (N, size, size): filled below the true height
    line = rows == heights[:, 1:2]
    chart = torch.ones(count, 3, size, size, device=target.device)
    chart[:, :, :, :] -= 0.5 * bars.unsqueeze(1).float()
    chart[:, 0][line] = 1.0
    chart[:, 1][line] = 0.0
    chart[:, 2][line] = 0.0
    return chart
