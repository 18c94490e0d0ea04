"""Stage 3, `colorizer`: the encoder E, the colorization network G and the discriminator D.

IHN is frozen and descreens the halftone; G colorizes in both cascades (README.md, "How it
works"): forward on the descreened gray image, reverse on the raw halftone, whose target is the
"color halftone" (each channel of the target screened alone). The losses are BicycleGAN's (E, G
and D are its networks: supplementary §1.2) plus the paper's:

- reconstruction: L1 of both cascades' outputs with the encoded code against their targets;
- KL of E's code distribution to N(0, I);
- least-squares GAN for encoded and random codes, D conditioned on the code;
- latent regression: E's mean of G's output for a random code must give that code back (this
  term trains G only, as in BicycleGAN: E is used with its weights held constant);
- mode seeking (two random codes must give different images), similarity (patch relations as in
  the target), histogram (H of the output's channels as of the target's, H frozen);
- (ours, `random_luma`) random codes' outputs keep the target's luma;
- (ours, `even_random`) random codes' outputs on smooth crops in one even color are even too.

Reference scheme: E sees the reference (a re-cropped, rotated view of the photo with a color
shift), the target is the photo with the same shift, so the code must carry the reference's
colors. D judges (target, E's mean code) as real and (output, its code) as fake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from halftint import losses
from halftint.color import rgb_to_gray
from halftint.edges import canny_edges
from halftint.nets import HistogramEstimator, ReferenceEncoder
from halftint.train.config import TrainConfig
from halftint.train.stage import Preview, Stage, fit_square


class ColorizerStage(Stage):
    """Trains E, G and D with IHN (and H, for the histogram loss) frozen."""

    name = "colorizer"
    trained = ("encoder", "generator", "discriminator")
    frozen = ("ihn", "histogram")
    fields = ("halftone", "target", "reference", "color_halftone", "smooth")
    # BicycleGAN's Adam settings: a low beta1 keeps the adversarial game from overshooting
    betas = (0.5, 0.999)

    @classmethod
    def needed_frozen(cls, config: TrainConfig) -> tuple[str, ...]:
        # H is needed only when its loss counts
        return ("ihn", "histogram") if config.losses.histogram > 0 else ("ihn",)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        generator_side = [
            *self.networks["encoder"].parameters(),
            *self.networks["generator"].parameters(),
        ]
        return {
            "encoder_generator": torch.optim.Adam(generator_side, lr=self.lr, betas=self.betas),
            "discriminator": torch.optim.Adam(
                self.networks["discriminator"].parameters(), lr=self.lr, betas=self.betas
            ),
        }

    def _descreen(self, halftone: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(descreened gray, its edges, the halftone's edges); no gradients."""
        with torch.no_grad(), self.hardware.autocast():
            gray = self.networks["ihn"](halftone).float()
        return gray, canny_edges(gray), canny_edges(halftone)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        weights = self.config.losses
        encoder = self.network("encoder", ReferenceEncoder)
        generator = self.networks["generator"]
        discriminator = self.networks["discriminator"]
        halftone, target = batch["halftone"], batch["target"]
        gray, gray_edges, halftone_edges = self._descreen(halftone)
        count = halftone.shape[0]
        z_dim = encoder.config.z_dim
        random_codes = torch.randn(2 * count, z_dim, device=halftone.device)
        with self.hardware.autocast():
            mu, logvar = encoder(batch["reference"])
            mu, logvar = mu.float(), logvar.float()
            code = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            forward = generator(gray, gray_edges, code).float()
            reverse = generator(halftone, halftone_edges, code).float()
            # both random codes in one pass: G sees the same gray image twice
            randoms = generator(
                gray.repeat(2, 1, 1, 1), gray_edges.repeat(2, 1, 1, 1), random_codes
            ).float()
        random_1, random_2 = randoms.split(count)
        code_1, code_2 = random_codes.split(count)
        real_code = mu.detach()

        # D first, on detached fakes (as BicycleGAN), then G and E against the updated D
        discriminator.requires_grad_(True)
        with self.hardware.autocast():
            real_logits = discriminator(target, real_code)
            d_real = losses.least_squares_gan(real_logits, True)
            d_encoded = losses.least_squares_gan(
                discriminator(forward.detach(), code.detach()), False
            )
            d_random = losses.least_squares_gan(discriminator(random_1.detach(), code_1), False)
        d_loss = weights.gan_encoded * (d_real + d_encoded) + weights.gan_random * (
            d_real + d_random
        )
        self.optimize(self.optimizers["discriminator"], d_loss, ("discriminator",))

        discriminator.requires_grad_(False)
        with self.hardware.autocast():
            gan_encoded = losses.least_squares_gan(discriminator(forward, code), True)
            gan_random = losses.least_squares_gan(discriminator(random_1, code_1), True)
            # E with constant weights: the latent loss trains G alone
            constant_encoder = {name: p.detach() for name, p in encoder.named_parameters()}
            recovered, _ = functional_call(encoder, constant_encoder, (random_1,))
        terms = {
            "reconstruction": F.l1_loss(forward, target)
            + F.l1_loss(reverse, batch["color_halftone"]),
            "kl": losses.kl_to_standard_normal(mu, logvar),
            "gan": weights.gan_encoded * gan_encoded + weights.gan_random * gan_random,
            "latent": losses.latent_regression(recovered.float(), code_1),
            "mode_seeking": losses.mode_seeking(random_1, random_2, code_1, code_2),
            "similarity": losses.similarity(forward, target, weights.similarity_pool),
        }
        total = (
            weights.reconstruction * terms["reconstruction"]
            + weights.kl * terms["kl"]
            + terms["gan"]
            + weights.latent * terms["latent"]
            + weights.mode_seeking * terms["mode_seeking"]
            + weights.similarity * terms["similarity"]
        )
        if weights.random_luma > 0:
            luma = rgb_to_gray(target).repeat(2, 1, 1, 1)
            terms["random_luma"] = F.l1_loss(rgb_to_gray(randoms), luma)
            total = total + weights.random_luma * terms["random_luma"]
        if weights.even_random > 0:
            terms["even_random"] = losses.uneven_chroma(randoms, batch["smooth"].repeat(2, 1, 1, 1))
            total = total + weights.even_random * terms["even_random"]
        if weights.histogram > 0:
            estimator = self.network("histogram", HistogramEstimator)
            size = estimator.config.input_size
            terms["histogram"] = losses.histogram_loss(
                estimator, fit_square(forward, size), fit_square(target, size)
            )
            total = total + weights.histogram * terms["histogram"]
        self.optimize(self.optimizers["encoder_generator"], total, ("encoder", "generator"))
        discriminator.requires_grad_(True)
        values = {name: term.item() for name, term in terms.items()}
        values["discriminator"] = d_loss.item()
        values["total"] = total.item()
        return values

    @torch.no_grad()
    def preview(self, batch: dict[str, torch.Tensor]) -> Preview:
        halftone, target = batch["halftone"], batch["target"]
        gray, gray_edges, _ = self._descreen(halftone)
        encoder = self.network("encoder", ReferenceEncoder)
        generator = self.networks["generator"]
        count = halftone.shape[0]
        # fixed codes, so successive sheets show how the same codes evolve
        seeded = torch.Generator().manual_seed(0)
        random_code = torch.randn(count, encoder.config.z_dim, generator=seeded).to(halftone.device)
        with self.evaluating():
            mu, _ = encoder(batch["reference"])
            from_reference = generator(gray, gray_edges, mu).float()
            from_random = generator(gray, gray_edges, random_code).float()
        return Preview(
            columns={
                "halftone": halftone,
                "descreened": gray.clamp(0, 1),
                "reference": batch["reference"],
                "from reference": from_reference,
                "random code": from_random,
                "target": target,
            },
            metrics={
                "l1": F.l1_loss(from_reference, target).item(),
                "psnr": losses.psnr(from_reference.clamp(0, 1), target),
            },
        )
