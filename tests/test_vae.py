"""The causal video VAE: shapes, causality (numerically), overfitting one clip."""

import numpy as np
import pytest
import torch

from aiprod.nn.vae import (
    Downsample,
    Upsample,
    VAEConfig,
    VideoVAE,
    _framewise,
)
from aiprod.nn.vae_loss import foreground_weights, reconstruction_loss
from aiprod.synth.render import render_scene
from aiprod.synth.world import ObjectSpec, SceneSpec
from aiprod.train.metrics import psnr


def tiny(spatial=4, temporal=4, channels=None, **kw):
    levels = {4: 2, 8: 3, 16: 4, 32: 5}[spatial]
    return VAEConfig(
        channels=channels or (8,) * levels,
        spatial_factor=spatial,
        temporal_factor=temporal,
        latent_channels=4,
        groups=4,
        attention_heads=2,
        **kw,
    )


@pytest.mark.quick
@pytest.mark.parametrize("spatial,temporal", [(4, 1), (8, 4), (16, 8), (32, 8), (8, 1)])
def test_shapes_for_any_length(spatial, temporal):
    torch.manual_seed(0)
    vae = VideoVAE(tiny(spatial, temporal)).eval()
    for k in (0, 1, 2):
        frames = 1 + k * temporal
        video = torch.randn(1, 3, frames, 32, 32)
        mean, logvar = vae.encode(video)
        assert mean.shape == (1, 4, 1 + k, 32 // spatial, 32 // spatial) == logvar.shape
        assert vae.decode(mean).shape == video.shape


@pytest.mark.quick
def test_bad_lengths_and_sizes_are_refused():
    vae = VideoVAE(tiny(4, 4))
    with pytest.raises(ValueError, match="1 \\+ k \\* 4 frames"):
        vae.encode(torch.randn(1, 3, 4, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        vae.encode(torch.randn(1, 3, 5, 30, 32))
    with pytest.raises(ValueError, match="power of 2"):
        VAEConfig(spatial_factor=6)


@pytest.mark.quick
def test_a_still_image_encodes_alone():
    torch.manual_seed(0)
    vae = VideoVAE(tiny(8, 4)).eval()
    video = torch.randn(1, 3, 9, 32, 32)
    alone, _ = vae.encode(video[:, :, :1])
    within, _ = vae.encode(video)
    torch.testing.assert_close(alone[:, :, 0], within[:, :, 0])


@pytest.mark.quick
@pytest.mark.parametrize("attention", [True, False])
def test_causality(attention):
    """Changing input frame t changes no latent whose frames end before t, and changing
    latent j changes no decoded frame before j's first frame."""
    torch.manual_seed(0)
    vae = VideoVAE(tiny(8, 4, attention=attention, attention_stride=2)).eval()
    video = torch.randn(1, 3, 13, 32, 32)
    with torch.no_grad():
        base, _ = vae.encode(video)
        for t in (5, 9, 12):
            changed = video.clone()
            changed[:, :, t] += 1.0
            latent, _ = vae.encode(changed)
            last_unaffected = (t - 1) // 4  # latent j covers frames 4j-3 .. 4j (j >= 1)
            torch.testing.assert_close(
                latent[:, :, : last_unaffected + 1], base[:, :, : last_unaffected + 1]
            )
            assert not torch.allclose(
                latent[:, :, last_unaffected + 1], base[:, :, last_unaffected + 1]
            )
        decoded = vae.decode(base)
        for j in (1, 2, 3):
            changed = base.clone()
            changed[:, :, j] += 1.0
            out = vae.decode(changed)
            first = 1 + (j - 1) * 4
            torch.testing.assert_close(out[:, :, :first], decoded[:, :, :first])
            assert not torch.allclose(out[:, :, first], decoded[:, :, first])


@pytest.mark.quick
def test_tiled_decode_matches_shape_and_stays_close():
    torch.manual_seed(0)
    vae = VideoVAE(tiny(4, 4)).eval()
    latent = torch.randn(1, 4, 2, 24, 24)
    with torch.no_grad():
        whole = vae.decode(latent)
        tiled = vae.decode_tiled(latent, tile=12, overlap=4)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.25 * whole.abs().mean()
    assert vae.compression_ratio() == 3 * 16 * 4 / 4


def test_tiny_vae_overfits_one_clip_to_30_db():
    spec = SceneSpec(
        objects=(ObjectSpec("square", "red", "large", "linear", "right"),),
        background="gradient",
        background_colour="sky",
        camera="static",
        lighting="steady",
        occlusion=False,
        seed=1,
    )
    frames, _ = render_scene(spec, 9, 32)
    video = torch.from_numpy(np.stack(frames)[..., ::-1].copy()).permute(3, 0, 1, 2)[None]
    video = video.float() / 127.5 - 1
    torch.manual_seed(0)
    vae = VideoVAE(
        VAEConfig(
            channels=(16, 32),
            spatial_factor=4,
            temporal_factor=4,
            latent_channels=8,
            groups=4,
            attention_heads=2,
        )
    )
    optimiser = torch.optim.Adam(vae.parameters(), lr=5e-3)
    generator = torch.Generator().manual_seed(0)
    best = 0.0
    for step in range(600):
        loss = vae(video, generator=generator).losses["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 25 == 24:
            with torch.no_grad():
                best = max(best, psnr(vae.decode(vae.encode(video)[0]), video))
            if best >= 30.0:
                break
    assert best >= 30.0, f"PSNR {best:.2f} dB"


def _object_on_plain_frame(frames: int = 1) -> torch.Tensor:
    """(1, 3, frames, 8, 8): grey frames with one red 2x2 object."""
    video = torch.full((1, 3, frames, 8, 8), 0.2)
    video[:, :, :, 3:5, 3:5] = torch.tensor([0.9, -0.8, -0.8]).view(1, 3, 1, 1, 1)
    return video


@pytest.mark.quick
def test_foreground_weights_lift_the_object_over_its_background():
    weights = foreground_weights(_object_on_plain_frame(), 4.0)
    assert torch.allclose(weights[..., 0, 0], torch.ones(1, 1, 1))  # background: 1
    assert torch.allclose(weights[..., 3, 3], torch.full((1, 1, 1), 1 + 4 * 1.0))  # |-0.8-0.2|


@pytest.mark.quick
def test_reconstruction_loss_charges_a_wrong_object_colour_more_with_a_foreground_weight():
    video = _object_on_plain_frame()
    wrong_object, wrong_corner = video.clone(), video.clone()
    wrong_object[:, :, :, 3:5, 3:5] = 0.2  # the object painted in the background's colour
    wrong_corner[:, :, :, 0:2, 0:2] += 0.9  # an error of about the same size on the background
    plain = (reconstruction_loss(r, video) for r in (wrong_object, wrong_corner))
    plain_object, plain_corner = plain
    assert plain_object == pytest.approx(
        (wrong_object - video).pow(2).mean() + 0.1 * (wrong_object - video).abs().mean()
    )
    weighted_object = reconstruction_loss(wrong_object, video, 4.0)
    weighted_corner = reconstruction_loss(wrong_corner, video, 4.0)
    assert weighted_object / weighted_corner > 2 * plain_object / plain_corner


@pytest.mark.quick
def test_weighted_loss_of_a_batch_is_the_mean_of_its_videos_losses():
    """Per-video normalisation: what DDP's gradient average needs to equal the whole batch's."""
    torch.manual_seed(0)
    plain = _object_on_plain_frame(4)
    busy = torch.rand_like(plain) * 2 - 1  # weights far from the plain frame's
    video = torch.cat([plain, busy])
    reconstruction = video + 0.3 * torch.randn_like(video)
    for weights in ((0.0, 0.0), (4.0, 0.0), (4.0, 2.0)):
        whole = float(reconstruction_loss(reconstruction, video, *weights))
        alone = [
            reconstruction_loss(reconstruction[i : i + 1], video[i : i + 1], *weights)
            for i in range(2)
        ]
        assert whole == pytest.approx(float(sum(alone)) / 2, rel=1e-5)


@pytest.mark.quick
def test_temporal_weight_charges_flicker_that_the_per_frame_error_cannot_see():
    video = _object_on_plain_frame(4)
    steady, flicker = video.clone(), video.clone()
    steady += 0.2  # the same error in every frame: every frame-to-frame change is right
    flicker[:, :, 0::2] += 0.2  # as large an error, alternating: the changes are wrong
    flicker[:, :, 1::2] -= 0.2
    for fg in (0.0, 4.0):
        assert reconstruction_loss(steady, video, fg) == pytest.approx(
            reconstruction_loss(flicker, video, fg)
        )
        assert reconstruction_loss(steady, video, fg, 1.0) == pytest.approx(
            reconstruction_loss(steady, video, fg)
        )
        assert reconstruction_loss(flicker, video, fg, 1.0) > 2 * reconstruction_loss(
            flicker, video, fg
        )


@pytest.mark.quick
def test_shortcuts_carry_each_cells_mean_past_the_convolutions():
    """With the learned convolutions silent, down-sampling passes each 2x2 x frame-pair mean
    (the first frame alone) and up-sampling repeats it back: the path that lets colour reach
    the latent before any convolution has learned to carry it."""
    down, up = Downsample(3, time=True, shortcut=True), Upsample(3, time=True, shortcut=True)
    for conv in (down.conv, down.time_conv, up.conv):
        torch.nn.init.zeros_(conv.conv.weight)
        torch.nn.init.zeros_(conv.conv.bias)
    video = torch.rand(1, 3, 5, 4, 4)
    small = down(video)
    cells = torch.nn.functional.avg_pool3d(video, (1, 2, 2))
    expected = torch.cat([cells[:, :, :1], 0.5 * (cells[:, :, 1::2] + cells[:, :, 2::2])], dim=2)
    torch.testing.assert_close(small, expected)
    back = up(small)
    assert back.shape == video.shape
    torch.testing.assert_close(
        back[:, :, 1:3, :2, :2], expected[:, :, 1:2, :1, :1].expand(-1, -1, 2, 2, 2)
    )
    plain = Downsample(3, time=True)
    assert not torch.allclose(plain(video), small)


@pytest.mark.quick
def test_latent_shortcuts_average_into_the_mean_and_repeat_back():
    """The encoder's mean adds its top features averaged in channel groups (the log-variance
    does not); the decoder's first features add each latent channel repeated."""
    vae = VideoVAE(tiny(channels=(8, 16)))  # 16 top channels, 4 latent channels: groups of 4
    encoder, decoder = vae.encoder, vae.decoder
    for conv in (encoder.head.conv, decoder.stem.conv):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    video = torch.rand(1, 3, 5, 8, 8) * 2 - 1
    top = encoder.mid(encoder.layers(encoder.stem(video)))
    mean, logvar = encoder(video).chunk(2, dim=1)
    torch.testing.assert_close(mean, top.reshape(1, 4, 4, *top.shape[2:]).mean(dim=2))
    assert logvar.eq(0).all()
    latent = torch.randn(1, 4, 2, 2, 2)
    features = decoder.layers(decoder.mid(latent.repeat_interleave(4, dim=1)))
    expected = decoder.head(torch.nn.functional.silu(_framewise(decoder.norm, features)))
    torch.testing.assert_close(decoder(latent), expected)


def test_ssim_is_the_standard_11x11_gaussian_one():
    from aiprod.train.metrics import ssim

    torch.manual_seed(0)
    video = torch.rand(2, 3, 4, 32, 32) * 2 - 1
    assert ssim(video, video) == pytest.approx(1.0, abs=1e-6)
    slightly, badly = video + 0.05 * torch.randn_like(video), video + 0.5 * torch.randn_like(video)
    assert 0 < ssim(badly, video) < ssim(slightly, video) < 1
    # a uniform shift of 0.1 on [0, 1] pixels: luminance term only, known in closed form
    # for a constant image (mu 0.5 vs 0.6; no variance): (2*.5*.6 + c1) / (.25 + .36 + c1)
    flat = torch.zeros(1, 1, 1, 32, 32)
    c1 = 0.01**2
    expected = (2 * 0.5 * 0.6 + c1) / (0.5**2 + 0.6**2 + c1)
    assert ssim(flat + 0.2, flat) == pytest.approx(expected, abs=1e-4)


@pytest.mark.quick
def test_read_back_in_batches_is_the_same_as_all_at_once():
    from aiprod.train.codec import LatentCodec

    torch.manual_seed(0)
    codec = LatentCodec(VideoVAE(tiny()).eval(), [0.1] * 4, [2.0] * 4)
    videos = torch.rand(5, 3, 5, 16, 16) * 2 - 1
    whole = codec.decode(codec.encode(videos))
    batched = codec.read_back(videos, batch=2)
    assert batched.device.type == "cpu" and batched.shape == videos.shape
    torch.testing.assert_close(batched, whole, atol=1e-5, rtol=1e-5)
