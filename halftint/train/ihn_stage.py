"""Stage 1, `ihn`: the inverse halftone network IHN learns to descreen (SPEC §3).

Losses (Xia & Wong's scheme): L2 between the content branch's output and the true gray image,
plus L1 between the final output (content + detail) and the true gray image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from halftint.nets import InverseHalftoneNet
from halftint.train.stage import Preview, Stage, psnr


class IHNStage(Stage):
    """Trains IHN on (halftone, gray) pairs."""

    name = "ihn"
    trained = ("ihn",)
    fields = ("gray", "halftone")

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        weights = self.config.losses
        gray = batch["gray"]
        with self.hardware.autocast():
            ihn = self.network("ihn", InverseHalftoneNet)
            content, output = ihn.forward_parts(batch["halftone"])
        content_loss = F.mse_loss(content.float(), gray)
        output_loss = F.l1_loss(output.float(), gray)
        total = weights.ihn_content * content_loss + weights.ihn_output * output_loss
        self.optimize(self.optimizers[self.name], total, self.trained)
        return {
            "content_l2": content_loss.item(),
            "output_l1": output_loss.item(),
            "total": total.item(),
        }

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> Preview:
        with self.evaluating():
            output = self.networks["ihn"](batch["halftone"]).float()
        gray = batch["gray"]
        return Preview(
            columns={
                "halftone": batch["halftone"],
                "descreened": output.clamp(0, 1),
                "truth": gray,
            },
            metrics={"l1": F.l1_loss(output, gray).item(), "psnr": psnr(output, gray)},
        )
