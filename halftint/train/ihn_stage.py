"""Stage 1, `ihn`: the inverse halftone network IHN learns to descreen (supplementary §1.1).

Losses (Xia & Wong's scheme): L2 between the content branch's output and the true gray image
(the `unet` topology only: the `shuffle` topology's content is a fixed low-pass), plus L1
between the final output (content + detail) and the true gray image, plus optionally an L1 on
the image gradients (finite differences: it penalises the flat plateaus and steps of a
posterized output) and, when local VGG16 weights are configured, a perceptual term on the output
(`halftint.train.perceptual`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from halftint.losses import psnr
from halftint.nets import InverseHalftoneNet
from halftint.train.config import TrainConfig
from halftint.train.perceptual import VGGFeatures, perceptual_distance
from halftint.train.stage import Hardware, Preview, Stage


def gradient_l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between the horizontal and vertical differences of two images."""
    return F.l1_loss(output.diff(dim=-1), target.diff(dim=-1)) + F.l1_loss(
        output.diff(dim=-2), target.diff(dim=-2)
    )


class IHNStage(Stage):
    """Trains IHN on (halftone, gray) pairs."""

    name = "ihn"
    trained = ("ihn",)
    fields = ("gray", "halftone")

    def __init__(
        self, networks: dict[str, nn.Module], config: TrainConfig, hardware: Hardware
    ) -> None:
        super().__init__(networks, config, hardware)
        self.perceptual: VGGFeatures | None = None
        if config.losses.ihn_perceptual > 0:
            self.perceptual = VGGFeatures(config.perceptual_weights).to(hardware.device)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        weights = self.config.losses
        gray = batch["gray"]
        with self.hardware.autocast():
            ihn = self.network("ihn", InverseHalftoneNet)
            content, output = ihn.forward_parts(batch["halftone"])
        output = output.float()
        terms = {"output_l1": F.l1_loss(output, gray)}
        total = weights.ihn_output * terms["output_l1"]
        if ihn.config.topology == "unet":
            terms["content_l2"] = F.mse_loss(content.float(), gray)
            total = total + weights.ihn_content * terms["content_l2"]
        if weights.ihn_gradient > 0:
            terms["gradient_l1"] = gradient_l1(output, gray)
            total = total + weights.ihn_gradient * terms["gradient_l1"]
        if self.perceptual is not None:
            with self.hardware.autocast():
                terms["perceptual"] = perceptual_distance(self.perceptual, output, gray).float()
            total = total + weights.ihn_perceptual * terms["perceptual"]
        self.optimize(self.optimizers[self.name], total, self.trained)
        return {**{name: term.item() for name, term in terms.items()}, "total": total.item()}

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
            metrics={"l1": F.l1_loss(output, gray).item(), "psnr": psnr(output.clamp(0, 1), gray)},
        )
