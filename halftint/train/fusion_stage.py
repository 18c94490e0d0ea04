"""Stage 4, `fusion`: the fusion network F merges the two cascades (supplementary §1.4).

Everything else is frozen and runs as at inference, in reconstruction mode (the code is E's mean
for the photo itself): A is the forward cascade's output, B the reverse cascade's (G on the raw
halftone, then IHN on each of its three channels), and F(A, B) is trained with L1 against the
photo. A and B reach F unclamped, as in `halftint.pipeline`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from halftint.edges import canny_edges
from halftint.losses import psnr
from halftint.train.stage import Preview, Stage


class FusionStage(Stage):
    """Trains F with IHN, E and G frozen."""

    name = "fusion"
    trained = ("fusion",)
    frozen = ("ihn", "encoder", "generator")
    fields = ("halftone", "color")

    @torch.no_grad()
    def cascades(
        self, halftone: torch.Tensor, color: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, B): both cascades' `(B, 3, H, W)` outputs in reconstruction mode."""
        ihn, generator = self.networks["ihn"], self.networks["generator"]
        count, _, height, width = halftone.shape
        with self.hardware.autocast():
            gray = ihn(halftone).float()
            code, _ = self.networks["encoder"](color)
            forward = generator(gray, canny_edges(gray), code).float()
            color_halftone = generator(halftone, canny_edges(halftone), code)
            reverse = ihn(color_halftone.reshape(count * 3, 1, height, width)).float()
        return forward, reverse.reshape(count, 3, height, width)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        forward, reverse = self.cascades(batch["halftone"], batch["color"])
        with self.hardware.autocast():
            fused = self.networks["fusion"](forward, reverse).float()
        loss = F.l1_loss(fused, batch["color"])
        self.optimize(self.optimizers[self.name], loss, self.trained)
        return {"l1": loss.item(), "forward_l1": F.l1_loss(forward, batch["color"]).item()}

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> Preview:
        color = batch["color"]
        with self.evaluating():
            forward, reverse = self.cascades(batch["halftone"], color)
            fused = self.networks["fusion"](forward, reverse).float().clamp(0, 1)
        return Preview(
            columns={
                "halftone": batch["halftone"],
                "forward (A)": forward.clamp(0, 1),
                "reverse (B)": reverse.clamp(0, 1),
                "fused": fused,
                "truth": color,
            },
            metrics={
                "l1": F.l1_loss(fused, color).item(),
                "psnr": psnr(fused, color),
                "forward_psnr": psnr(forward.clamp(0, 1), color),
            },
        )
