"""The six networks: exact parameter counts, shapes for any size, ranges, gradients, determinism."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import tiny_preset

from halftint.nets import (
    PRESETS,
    ColorizationNet,
    EncoderConfig,
    FusionConfig,
    FusionNet,
    GeneratorConfig,
    HistogramConfig,
    HistogramEstimator,
    IHNConfig,
    InverseHalftoneNet,
    ReferenceEncoder,
    build_networks,
    get_preset,
)
from halftint.nets.layers import CodeModulation, UNet, reflect_pad_to_multiple

PAPER_COUNTS = {
    "ihn": 41_095_681,
    "encoder": 5_361_296,
    "generator": 30_254_467,
    "discriminator": 3_473_954,
    "histogram": 16_833_216,
    "fusion": 241_795,
}
LITE_COUNTS = {
    "ihn": 502_324,
    "encoder": 337_360,
    "generator": 1_351_459,
    "discriminator": 223_370,
    "histogram": 2_111_456,
    "fusion": 6_035,
}


def _count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def _meta_networks(preset_name: str) -> dict[str, torch.nn.Module]:
    # the meta device allocates nothing: counting the paper's 138 M parameters costs no memory
    with torch.device("meta"):
        return build_networks(get_preset(preset_name))


def _halftone(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=generator) > 0.5).float()


@pytest.fixture(scope="module")
def tiny() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    networks = build_networks(tiny_preset())
    for network in networks.values():
        network.eval()
    return networks


def test_paper_parameter_counts_are_exact() -> None:
    counts = {name: _count(net) for name, net in _meta_networks("paper").items()}
    assert counts == PAPER_COUNTS
    # supplementary Table 3: "Ours 30.496M" is the colorization part, G + F
    assert counts["generator"] + counts["fusion"] == 30_496_262


def test_paper_ihn_splits_into_content_and_detail() -> None:
    ihn = _meta_networks("paper")["ihn"]
    assert isinstance(ihn, InverseHalftoneNet)
    assert _count(ihn.content) == 40_356_993
    assert _count(ihn.detail) == 738_688


def test_lite_parameter_counts() -> None:
    counts = {name: _count(net) for name, net in _meta_networks("lite").items()}
    assert counts == LITE_COUNTS


def test_presets_share_the_color_code_size() -> None:
    for preset in PRESETS.values():
        assert preset.encoder.z_dim == preset.generator.z_dim == preset.discriminator.z_dim == 8
    assert get_preset("paper").working_size == 256


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown preset 'huge'; valid: paper, lite"):
        get_preset("huge")


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 32, 32), (2, 250, 333), (3, 17, 9)])
def test_image_networks_keep_any_size(
    tiny: dict[str, torch.nn.Module], batch: int, height: int, width: int
) -> None:
    halftone = _halftone(batch, 1, height, width)
    z = torch.randn(batch, 8)
    with torch.no_grad():
        content, gray = tiny["ihn"].forward_parts(halftone)
        colored = tiny["generator"](gray, halftone, z)
        fused = tiny["fusion"](colored, colored)
    assert content.shape == gray.shape == (batch, 1, height, width)
    assert colored.shape == fused.shape == (batch, 3, height, width)
    # the U-Net ends in tanh mapped to [0, 1]; G has no other output stage
    assert content.min() >= 0.0 and content.max() <= 1.0
    assert colored.min() >= 0.0 and colored.max() <= 1.0
    assert torch.isfinite(gray).all() and torch.isfinite(fused).all()


@pytest.mark.parametrize(("height", "width"), [(32, 32), (250, 333), (7, 90)])
def test_encoder_takes_references_of_any_size(
    tiny: dict[str, torch.nn.Module], height: int, width: int
) -> None:
    with torch.no_grad():
        mu, logvar = tiny["encoder"](torch.rand(2, 3, height, width))
    assert mu.shape == logvar.shape == (2, 8)
    assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()


def test_encoder_crops_instead_of_distorting() -> None:
    torch.manual_seed(1)
    encoder = ReferenceEncoder(EncoderConfig(input_size=32, base_channels=4, pool_size=4)).eval()
    square = torch.rand(1, 3, 32, 32)
    # the same square with junk borders left and right: center-cropping recovers it exactly
    wide = torch.cat([torch.rand(1, 3, 32, 8), square, torch.rand(1, 3, 32, 8)], dim=3)
    with torch.no_grad():
        assert torch.allclose(encoder(wide)[0], encoder(square)[0])


def test_the_published_encoder_cannot_see_a_global_color_cast() -> None:
    # each feature map's instance norm removes what a per-channel constant adds: the paper's E
    # gives a photo and the same photo with a cast the same code (why its codes collapsed)
    torch.manual_seed(2)
    encoder = ReferenceEncoder(EncoderConfig(input_size=32, base_channels=4, pool_size=4)).eval()
    photo = 0.2 + 0.5 * torch.rand(1, 3, 32, 32)
    cast = photo + torch.tensor([0.1, 0.0, -0.1]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(encoder(photo)[0], encoder(cast)[0], atol=1e-4)


def test_an_encoder_with_color_statistics_starts_from_them() -> None:
    from halftint.color import chroma_statistics
    from halftint.nets.encoder import COLOR_CENTER, COLOR_SCALE, COLOR_START_LOGVAR

    torch.manual_seed(3)
    config = EncoderConfig(input_size=32, base_channels=4, pool_size=4, color_statistics=True)
    encoder = ReferenceEncoder(config).eval()
    plain = ReferenceEncoder(dataclasses.replace(config, color_statistics=False))
    # a head of its own: four statistics to each code dimension, no bias
    assert _count(encoder) == _count(plain) + 4 * config.z_dim
    photo = 0.2 + 0.5 * torch.rand(2, 3, 32, 32)
    cast = photo + torch.tensor([0.1, 0.0, -0.1]).view(1, 3, 1, 1)
    with torch.no_grad():
        mu, logvar = encoder(photo)
        cast_mu, _ = encoder(cast)
    expected = (chroma_statistics(photo) - torch.tensor(COLOR_CENTER)) / torch.tensor(COLOR_SCALE)
    assert torch.allclose(mu[:, :4], expected, atol=1e-5)
    assert (cast_mu[:, :4] - mu[:, :4]).abs().max() > 1.0  # the cast moves the code
    assert logvar.mean().item() == pytest.approx(COLOR_START_LOGVAR, abs=0.5)


def test_a_trained_encoder_extends_to_one_with_color_statistics() -> None:
    from halftint.train.parent import extend_network

    config = EncoderConfig(input_size=32, base_channels=4, pool_size=4)
    torch.manual_seed(4)
    plain = ReferenceEncoder(config).eval()
    grown = ReferenceEncoder(dataclasses.replace(config, color_statistics=True)).eval()
    taken, new = extend_network(grown, plain.state_dict(), "encoder", "a bundle")
    assert (taken, new) == (len(plain.state_dict()), 1)
    photo = 0.2 + 0.5 * torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        # the old code, plus the statistics on its first four dimensions
        before, after = plain(photo)[0], grown(photo)[0]
    assert torch.allclose(after[:, 4:], before[:, 4:])
    assert not torch.allclose(after[:, :4], before[:, :4])


def test_discriminator_gives_one_map_per_scale() -> None:
    torch.manual_seed(0)
    with torch.device("meta"):
        paper_d = build_networks(get_preset("paper"), ["discriminator"])["discriminator"]
        maps = paper_d(torch.rand(2, 3, 256, 256), torch.randn(2, 8))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 30, 30), (2, 1, 14, 14)]


def test_discriminator_names_its_minimum_size(tiny: dict[str, torch.nn.Module]) -> None:
    with torch.no_grad():
        maps = tiny["discriminator"](torch.rand(2, 3, 32, 32), torch.randn(2, 8))
    assert [tuple(m.shape) for m in maps] == [(2, 1, 6, 6), (2, 1, 2, 2)]
    with pytest.raises(ValueError, match=r"at least 23 pixels on a side, got 20x40"):
        tiny["discriminator"](torch.rand(1, 3, 20, 40), torch.randn(1, 8))


def test_histogram_is_a_distribution_and_checks_its_size(tiny: dict[str, torch.nn.Module]) -> None:
    with torch.no_grad():
        probabilities = tiny["histogram"](torch.rand(3, 1, 32, 32))
    assert probabilities.shape == (3, 256)
    assert (probabilities >= 0).all()
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(3))
    with pytest.raises(ValueError, match=r"takes 32x32 channels \(its input_size\), got 64x64"):
        tiny["histogram"](torch.rand(1, 1, 64, 64))


def test_histogram_linear_layer_follows_input_size() -> None:
    with torch.device("meta"):
        small = HistogramEstimator(HistogramConfig(input_size=64))
        odd = HistogramEstimator(HistogramConfig(input_size=100))
    assert small.classifier.in_features == 64 * 8 * 8
    assert odd.classifier.in_features == 64 * 13 * 13


def test_bad_shapes_are_named(tiny: dict[str, torch.nn.Module]) -> None:
    with pytest.raises(
        ValueError, match=r"halftone must be a \(B, 1, H, W\) tensor, got shape \(1, 3, 8, 8\)"
    ):
        tiny["ihn"](torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"z must have shape \(1, 8\), got \(1, 4\)"):
        tiny["generator"](torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"edges must have the shape of gray"):
        tiny["generator"](torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 9), torch.randn(1, 8))
    with pytest.raises(
        ValueError, match=r"reference must be a \(B, 3, H, W\) tensor, got shape \(3, 8, 8\)"
    ):
        tiny["encoder"](torch.rand(3, 8, 8))
    with pytest.raises(
        ValueError, match=r"noise must have shape \(1, 8, 8, 8\), got \(1, 8, 4, 4\)"
    ):
        tiny["ihn"](torch.rand(1, 1, 8, 8), torch.zeros(1, 8, 4, 4))


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    networks = build_networks(tiny_preset())
    halftone = _halftone(2, 1, 32, 32)
    rgb = torch.rand(2, 3, 32, 32)
    z = torch.randn(2, 8)
    content, gray = networks["ihn"].forward_parts(halftone)
    mu, logvar = networks["encoder"](rgb)
    losses = {
        "ihn": content.mean() + gray.mean(),
        "encoder": mu.square().mean() + logvar.exp().mean(),
        "generator": networks["generator"](gray.detach(), halftone, z).mean(),
        "discriminator": sum(m.mean() for m in networks["discriminator"](rgb, z)),
        "histogram": networks["histogram"](rgb[:, :1]).square().sum(),
        "fusion": networks["fusion"](rgb, rgb).mean(),
    }
    for name, network in networks.items():
        losses[name].backward()
        no_grad = [
            key for key, p in network.named_parameters() if p.requires_grad and p.grad is None
        ]
        assert no_grad == [], f"{name}: no gradient for {no_grad}"
        assert all(torch.isfinite(p.grad).all() for p in network.parameters() if p.grad is not None)


def test_eval_mode_is_deterministic_and_train_mode_draws_noise(
    tiny: dict[str, torch.nn.Module],
) -> None:
    ihn = tiny["ihn"]
    halftone = _halftone(1, 1, 40, 24)
    with torch.no_grad():
        first = ihn(halftone)
        torch.manual_seed(123)
        second = ihn(halftone)
        assert torch.equal(first, second)
        seeded = ihn.make_noise(1, 40, 24, generator=torch.Generator().manual_seed(5))
        again = ihn.make_noise(1, 40, 24, generator=torch.Generator().manual_seed(5))
        assert torch.equal(ihn(halftone, seeded), ihn(halftone, again))
        assert not torch.equal(ihn(halftone, seeded), first)
        ihn.train()
        try:
            # BatchNorm in train mode needs more than one value per channel at the 2x2 bottom
            batch = halftone.repeat(2, 1, 1, 1)
            torch.manual_seed(1)
            a = ihn(batch)
            torch.manual_seed(2)
            b = ihn(batch)
        finally:
            ihn.eval()
    assert not torch.equal(a, b)


def test_noise_map_matches_the_authors_statistics(tiny: dict[str, torch.nn.Module]) -> None:
    noise = tiny["ihn"].make_noise(2, 300, 300, generator=torch.Generator().manual_seed(0))
    assert noise.shape == (2, 8, 300, 300)
    assert noise.dtype == torch.float32
    assert torch.equal(noise[:, :1].expand_as(noise), noise)
    # 8 channels of unit noise blurred by a kernel whose squares sum to 36: std sqrt(288) ~ 17
    interior = noise[:, 0, 1:-1, 1:-1]
    assert 16.5 < interior.std().item() < 17.5
    assert abs(interior.mean().item()) < 0.5


def test_noise_can_be_switched_off() -> None:
    torch.manual_seed(0)
    config = IHNConfig(
        base_channels=4, depth=3, dense_layers=1, dense_growth=4, dense_bottleneck=8,
        detail_channels=4, detail_blocks=1, detail_expand=8, use_noise=False,
    )  # fmt: skip
    ihn = InverseHalftoneNet(config).eval()
    halftone = _halftone(1, 1, 16, 16)
    loud = torch.full((1, 8, 16, 16), 50.0)
    with torch.no_grad():
        assert torch.equal(ihn(halftone), ihn(halftone, loud))


def test_dtype_follows_the_input(tiny: dict[str, torch.nn.Module]) -> None:
    ihn = InverseHalftoneNet(tiny_preset().ihn).double().eval()
    with torch.no_grad():
        gray = ihn(_halftone(1, 1, 20, 20).double())
    assert gray.dtype == torch.float64


@pytest.mark.parametrize(("height", "width", "multiple"), [(3, 5, 16), (1, 7, 8), (250, 333, 64)])
def test_reflect_padding_reaches_the_multiple(height: int, width: int, multiple: int) -> None:
    image = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width)
    padded = reflect_pad_to_multiple(image, multiple)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - height < multiple and padded.shape[-1] - width < multiple
    assert torch.equal(padded[..., :height, :width], image)


def test_generator_at_inference_normalizes_each_sample_by_itself() -> None:
    generator = ColorizationNet(tiny_preset().generator).eval()
    torch.manual_seed(3)
    gray, edges = torch.rand(3, 1, 40, 48), (torch.rand(3, 1, 40, 48) > 0.8).float()
    z = torch.randn(3, generator.config.z_dim)
    with torch.no_grad():
        together = generator(gray, edges, z)
        alone = torch.cat(
            [generator(gray[i : i + 1], edges[i : i + 1], z[i : i + 1]) for i in range(3)]
        )
        # the running averages are not used at inference: wrecking them changes nothing
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(5.0)
                module.running_var.fill_(100.0)
        wrecked = generator(gray, edges, z)
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(together, wrecked, atol=1e-6)
    # the descreener keeps ordinary BatchNorm (one kind of input): running averages matter there
    ihn = InverseHalftoneNet(tiny_preset().ihn).eval()
    halftone = (torch.rand(1, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        before = ihn(halftone)
        for module in ihn.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.fill_(5.0)
        assert not torch.allclose(before, ihn(halftone))


# --- the shuffle topology ---------------------------------------------------------------------


def _shuffle_ihn(factor: int = 2, width: int = 8, blocks: int = 2) -> InverseHalftoneNet:
    torch.manual_seed(0)
    config = IHNConfig(
        topology="shuffle",
        shuffle_factor=factor,
        shuffle_width=width,
        shuffle_blocks=blocks,
        use_noise=False,
    )
    return InverseHalftoneNet(config).eval()


def test_shuffle_ihn_parameter_count() -> None:
    # head (f² -> w, 3x3) + blocks x 2 convs (w -> w, 3x3) + tail (w -> f², 3x3), with biases
    factor, width, blocks = 2, 32, 8
    expected = (
        (factor**2 * 9 * width + width)
        + blocks * 2 * (width * 9 * width + width)
        + (width * 9 * factor**2 + factor**2)
    )
    assert _count(_shuffle_ihn(factor, width, blocks)) == expected == 150_308


@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 13), (33, 64), (65, 31)])
def test_shuffle_ihn_takes_any_size(height: int, width: int) -> None:
    network = _shuffle_ihn(factor=4)
    with torch.no_grad():
        out = network(_halftone(2, 1, height, width))
    assert out.shape == (2, 1, height, width) and torch.isfinite(out).all()
    assert network.alignment == 4


def test_a_fresh_shuffle_ihn_is_the_gaussian_low_pass() -> None:
    """The residual starts at zero, so training starts from the classical filter."""
    network = _shuffle_ihn()
    halftone = _halftone(1, 1, 40, 40)
    with torch.no_grad():
        base, gray = network.forward_parts(halftone)
    torch.testing.assert_close(gray, base)
    inner = gray[..., 8:-8, 8:-8]
    assert abs(float(inner.mean()) - float(halftone[..., 8:-8, 8:-8].mean())) < 0.02
    assert float(inner.std()) < float(halftone.std())


def test_shuffle_ihn_learns_from_its_residual() -> None:
    network = _shuffle_ihn().train()
    halftone = _halftone(2, 1, 32, 32)
    _, gray = network.forward_parts(halftone)
    gray.mean().backward()
    assert network.shuffle.tail.weight.grad is not None
    assert float(network.shuffle.tail.weight.grad.abs().sum()) > 0


def test_unknown_topology_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown IHN topology 'mlp'; valid: unet, shuffle"):
        IHNConfig(topology="mlp")


def _modulated(**changes: object) -> ColorizationNet:
    config = GeneratorConfig(
        base_channels=4, depth=4, dropout=0.0, code="modulate", norm="instance", padding="reflect"
    )
    return ColorizationNet(dataclasses.replace(config, **changes))


def _randomize_modulation(generator: ColorizationNet) -> None:
    torch.manual_seed(3)
    for module in generator.modules():
        if isinstance(module, CodeModulation):
            torch.nn.init.normal_(module.linear.weight, std=0.5)


def test_a_fresh_modulated_generator_ignores_its_code_then_follows_it() -> None:
    generator = _modulated().eval()
    gray = torch.rand(1, 1, 21, 27).expand(2, -1, -1, -1)
    edges = (torch.rand(1, 1, 21, 27) > 0.8).float().expand(2, -1, -1, -1)
    codes = torch.randn(2, 8)
    with torch.no_grad():
        fresh = generator(gray, edges, codes)
        # FiLM starts as the identity: a fresh network is the same for every code
        assert torch.equal(fresh[0], fresh[1])
        _randomize_modulation(generator)
        modulated = generator(gray, edges, codes)
        assert (modulated[0] - modulated[1]).abs().mean() > 0.01
        # instance norm: training and inference normalize alike, so the code acts as trained
        generator.train()
        assert torch.allclose(generator(gray, edges, codes), modulated, atol=1e-5)


@pytest.mark.parametrize("size", [(17, 23), (32, 32), (5, 9)])
def test_reflect_padded_fusion_keeps_a_uniform_image_uniform(size: tuple[int, int]) -> None:
    # no border band whatever the weights: reflection keeps a constant constant
    torch.manual_seed(0)
    uniform = torch.rand(2, 3, 1, 1).expand(-1, -1, *size)
    with torch.no_grad():
        fused = FusionNet(FusionConfig(channels=4, padding="reflect"))(uniform, uniform)
    spread = fused.amax(dim=(2, 3)) - fused.amin(dim=(2, 3))
    assert spread.max() < 1e-5


@pytest.mark.parametrize("size", [(17, 23), (32, 32), (129, 131)])
def test_a_modulated_generator_keeps_a_uniform_image_uniform(size: tuple[int, int]) -> None:
    # reflection, instance norm and a code that modulates: no border band, and the float
    # rounding of a flat image is not blown up into colors (instance norm's epsilon)
    generator = _modulated().eval()
    _randomize_modulation(generator)
    gray = torch.full((2, 1, *size), 0.4)
    with torch.no_grad():
        colors = generator(gray, torch.zeros_like(gray), torch.randn(2, 8))
    spread = colors.amax(dim=(2, 3)) - colors.amin(dim=(2, 3))
    assert spread.max() < 2e-3


def test_zero_padded_fusion_has_a_border_band() -> None:
    # the paper's F (zero padding) darkens or tints its borders: what the lite preset avoids
    torch.manual_seed(0)
    uniform = torch.full((1, 3, 16, 16), 0.5)
    with torch.no_grad():
        fused = FusionNet(FusionConfig(channels=4))(uniform, uniform)
    assert (fused[..., 0, :] - fused[..., 8, :]).abs().max() > 1e-3


def test_unet_code_and_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="code must be one of input, modulate"):
        GeneratorConfig(code="film")
    with pytest.raises(ValueError, match="norm must be one of batch, instance"):
        UNet(2, 3, base_channels=4, depth=3, max_multiplier=8, dropout=0.0, norm="layer")
    with pytest.raises(ValueError, match="padding must be one of zeros, reflect"):
        UNet(2, 3, base_channels=4, depth=3, max_multiplier=8, dropout=0.0, padding="circular")
    with pytest.raises(ValueError, match="padding must be zeros or reflect"):
        FusionConfig(padding="replicate")
    plain = UNet(2, 3, base_channels=4, depth=3, max_multiplier=8, dropout=0.0)
    with pytest.raises(ValueError, match="takes no code"):
        plain(torch.rand(1, 2, 8, 8), torch.zeros(1, 8))
    coded = UNet(2, 3, base_channels=4, depth=3, max_multiplier=8, dropout=0.0, code_dim=8)
    with pytest.raises(ValueError, match="takes a code of 8 values"):
        coded(torch.rand(1, 2, 8, 8))


def test_generator_norm_eps_reaches_every_normalization() -> None:
    def epsilons(config: GeneratorConfig) -> set[float]:
        return {
            m.eps
            for m in ColorizationNet(config).modules()
            if isinstance(m, torch.nn.InstanceNorm2d | torch.nn.BatchNorm2d)
        }

    lite = get_preset("lite").generator
    assert epsilons(dataclasses.replace(lite, norm_eps=0.0)) == {1e-3}
    assert epsilons(dataclasses.replace(lite, norm_eps=0.1)) == {0.1}
    assert epsilons(GeneratorConfig(base_channels=4, depth=3)) == {1e-5}
    with pytest.raises(ValueError, match="norm_eps must be >= 0"):
        GeneratorConfig(norm_eps=-1.0)


def test_a_fresh_residual_fusion_passes_the_forward_cascade_through() -> None:
    config = dataclasses.replace(get_preset("lite").fusion, residual=True)
    fusion = FusionNet(config).eval()
    forward, reverse = torch.rand(2, 3, 21, 34), torch.rand(2, 3, 21, 34)
    with torch.no_grad():
        assert torch.equal(fusion(forward, reverse), forward)
        fusion.tail.bias.fill_(0.25)
        assert torch.allclose(fusion(forward, reverse), forward + 0.25)
    # the same parameters as the plain F: only the output's meaning differs
    plain = FusionNet(dataclasses.replace(config, residual=False))
    assert _count(plain) == _count(fusion) == LITE_COUNTS["fusion"]
    assert get_preset("lite").fusion.residual and not get_preset("paper").fusion.residual
