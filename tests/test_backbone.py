"""Hybrid backbone, flow guidance and rectified flow on tiny models (CPU)."""

import pytest
import torch
from tiny_models import tiny_backbone

from aiprod.nn.backbone import BackboneConfig, HybridBackbone
from aiprod.nn.blocks import CudnnDepthwise3d, FullDepthwise3d, SeparableDepthwise3d
from aiprod.nn.flow_guidance import check_strength
from aiprod.nn.rectified_flow import (
    Batch,
    LossWeights,
    draw_training,
    per_sample_loss,
    sample,
    training_loss,
)

CFG = tiny_backbone(attention_blocks=2, conv_blocks=2, max_grid=(8, 16, 16))


def batch(seed=0, b=2):
    g = torch.Generator().manual_seed(seed)
    return Batch(
        latents=torch.randn(b, 4, 3, 8, 8, generator=g),
        text=torch.randn(b, 5, 16, generator=g),
        text_mask=torch.tensor([[True] * 5, [True] * 3 + [False] * 2])[:b],
        flow=torch.randn(b, 2, 2, 16, 16, generator=g),
    )


@pytest.mark.quick
def test_layout_and_shapes():
    assert BackboneConfig(attention_blocks=30, conv_blocks=18).kinds().count("C") == 18
    assert BackboneConfig(attention_blocks=2, conv_blocks=1, layout="CAA").kinds() == [
        "C",
        "A",
        "A",
    ]
    with pytest.raises(ValueError, match="does not hold"):
        BackboneConfig(attention_blocks=2, conv_blocks=1, layout="CCA").kinds()
    model = HybridBackbone(CFG)
    data = batch()
    out = model(data.latents, torch.rand(2), data.text, data.text_mask, data.flow)
    assert out.shape == data.latents.shape
    with pytest.raises(ValueError, match="not divisible by patch"):
        model(torch.randn(1, 4, 3, 7, 8), torch.rand(1), data.text[:1], data.text_mask[:1])


@pytest.mark.quick
def test_depthwise_variants_agree():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6, 8)
    full, cudnn, separable = FullDepthwise3d(8), CudnnDepthwise3d(8), SeparableDepthwise3d(8)
    with torch.no_grad():
        cudnn.weight.copy_(full.weight.permute(3, 0, 1, 2)[:, None])
        cudnn.bias.copy_(full.bias)
        outer = separable.temporal[:, None, None] * separable.spatial[None]  # rank-1 3D kernel
        full.weight.copy_(outer)
        cudnn.weight.copy_(outer.permute(3, 0, 1, 2)[:, None])
    torch.testing.assert_close(full(x), cudnn(x), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(full(x), separable(x), atol=1e-5, rtol=1e-4)


@pytest.mark.quick
def test_every_parameter_receives_a_gradient():
    torch.manual_seed(0)
    model = HybridBackbone(CFG)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = batch()
    t, noise = torch.tensor([0.3, 0.7]), torch.randn_like(data.latents)
    for _ in range(3):  # adaLN-zero gates start at 0: a few steps open every path
        loss = per_sample_loss(
            model,
            data,
            t,
            noise,
            drop_text=torch.tensor([True, False]),
            drop_flow=torch.tensor([False, True]),
        ).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.quick
def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = HybridBackbone(CFG)
    checked = HybridBackbone(BackboneConfig(**{**CFG.__dict__, "gradient_checkpointing": True}))
    checked.load_state_dict(plain.state_dict())
    for model in (plain, checked):
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.05)  # open the zero-initialised gates
    checked.load_state_dict(plain.state_dict())
    data = batch()
    t, noise = torch.tensor([0.3, 0.7]), torch.randn_like(data.latents)
    for model in (plain, checked):
        per_sample_loss(model.train(), data, t, noise).mean().backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), checked.named_parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, msg=name)


@pytest.mark.quick
def test_flow_guidance_strength_zero_and_one():
    torch.manual_seed(0)
    model = HybridBackbone(CFG).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)  # a "trained" model that uses the flow
    data = batch()
    x, t = torch.randn_like(data.latents), torch.tensor([0.5, 0.5])
    with torch.no_grad():
        no_flow = model(x, t, data.text, data.text_mask, None)
        with_flow = model(x, t, data.text, data.text_mask, data.flow)
        assert not torch.allclose(no_flow, with_flow)
        dropped = model(
            x, t, data.text, data.text_mask, data.flow, drop_flow=torch.tensor([True, True])
        )
        torch.testing.assert_close(dropped, no_flow)
    with pytest.raises(ValueError, match="guidance_strength"):
        check_strength(1.5)
    with pytest.raises(ValueError, match="guidance_strength"):
        sample(model, tuple(data.latents.shape), data.text, data.text_mask, 2, 1.0, None, -0.1)


@pytest.mark.quick
def test_backbone_and_short_path_flow_encoders_see_the_same_normalised_flow():
    """The scale lives in `PatchFlowEncoder`, so the diffusers short path (which calls it
    directly) and the backbone's `FlowEncoder` give one flow the same tokens."""
    from aiprod.nn.flow_guidance import FLOW_SCALE, FlowEncoder

    torch.manual_seed(0)
    backbone_side = FlowEncoder(width=8, hidden=4, patch=(1, 2, 2))
    torch.nn.init.normal_(backbone_side.encoder.out.weight, std=0.1)
    flow = torch.randn(2, 2, 2, 8, 8)  # (B, 2, P, h, w) at the latent grid: 3 latent frames
    tokens = backbone_side(flow, (3, 4, 4))
    direct = backbone_side.encoder(flow, 3).flatten(2).transpose(1, 2)
    torch.testing.assert_close(tokens, direct)
    encoder = backbone_side.encoder
    padded = torch.cat([torch.zeros_like(flow[:, :, :1]), flow], 2)
    torch.testing.assert_close(  # px in, px / FLOW_SCALE to the layers
        encoder(flow * FLOW_SCALE, 3), encoder.out(encoder.inner(padded))
    )


@pytest.mark.quick
def test_sampler_reports_each_step_and_stops_when_the_callback_raises():
    model = HybridBackbone(CFG).eval()
    data = batch()
    shape = tuple(data.latents.shape)
    seen = []
    with torch.no_grad():
        sample(model, shape, data.text, data.text_mask, 3, 2.0, on_step=lambda *a: seen.append(a))
    assert seen == [(1, 3), (2, 3), (3, 3)]

    class Stop(Exception):
        pass

    def stop_at_two(step, steps):
        seen.append(step)
        if step == 2:
            raise Stop

    seen.clear()
    with torch.no_grad(), pytest.raises(Stop):
        sample(model, shape, data.text, data.text_mask, 5, 2.0, on_step=stop_at_two)
    assert seen == [1, 2]


def test_tiny_backbone_overfits_one_batch():
    torch.manual_seed(0)
    model = HybridBackbone(CFG)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = batch()
    t, noise = torch.tensor([0.3, 0.7]), torch.randn_like(data.latents)
    losses = []
    for _ in range(300):
        loss = per_sample_loss(model, data, t, noise).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, (losses[0], losses[-1])
    generator = torch.Generator().manual_seed(0)
    assert torch.isfinite(training_loss(model, data, generator))


@pytest.mark.quick
def test_sampling_is_reproducible_from_the_seed():
    torch.manual_seed(0)
    model = HybridBackbone(CFG).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    data = batch()
    shape = tuple(data.latents.shape)

    def run(seed):
        return sample(
            model,
            shape,
            data.text,
            data.text_mask,
            steps=3,
            cfg=3.0,
            flow=data.flow,
            guidance_strength=0.5,
            seed=seed,
        )

    assert torch.equal(run(1), run(1))
    assert not torch.allclose(run(1), run(2))
    with pytest.raises(ValueError, match="steps"):
        sample(model, shape, data.text, data.text_mask, steps=0)


@pytest.mark.quick
def test_timestep_mean_moves_training_towards_noise():
    """phase K's `timestep_mean` > 0 must draw noisier timesteps (the median is sigmoid(mean))."""
    latents = torch.zeros(4000, 1, 1, 1, 1)
    centred = draw_training(latents, torch.Generator().manual_seed(0)).t
    noisy = draw_training(latents, torch.Generator().manual_seed(0), timestep_mean=1.0).t
    assert abs(float(centred.median()) - 0.5) < 0.03
    assert abs(float(noisy.median()) - torch.sigmoid(torch.tensor(1.0)).item()) < 0.03
    assert bool((noisy > centred).all())  # the same normal draws, shifted: every t grows


@pytest.mark.quick
def test_motion_weighted_loss_counts_the_moving_cells_more():
    from aiprod.nn.rectified_flow import motion_weights

    flow = torch.zeros(2, 2, 2, 4, 4)
    flow[0, 0, :, 1, 2] = 3.0  # window 0: one cell moves; window 1 is still
    weights = motion_weights(flow, (3, 4, 4), strength=4.0)
    assert weights.shape == (2, 1, 3, 4, 4)
    assert weights[0, 0, :, 1, 2].tolist() == [5.0, 5.0, 5.0]
    assert weights[0, 0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    assert torch.equal(weights[1], torch.ones(1, 3, 4, 4))

    still_model = lambda x, *args: torch.zeros_like(x)  # noqa: E731 (predicts v = 0)
    latents = torch.zeros(2, 4, 3, 4, 4)
    noise = torch.zeros_like(latents)
    noise[:, :, :, 1, 2] = 1.0  # the error sits where window 0 moves
    data = Batch(latents, torch.zeros(2, 1, 8), torch.ones(2, 1, dtype=torch.bool), flow)
    t = torch.tensor([0.5, 0.5])
    plain = per_sample_loss(still_model, data, t, noise)
    weighted = per_sample_loss(still_model, data, t, noise, weights=LossWeights(motion=4.0))
    cells = 3 * 4 * 4
    torch.testing.assert_close(plain, torch.full((2,), 3 / cells))
    torch.testing.assert_close(weighted[0], torch.tensor(4 * 3 * 5 / (4 * (cells + 3 * 4))))
    torch.testing.assert_close(weighted[1], plain[1])  # a still window: the plain mean


@pytest.mark.quick
def test_temporal_weight_costs_an_error_that_changes_between_frames_more():
    from aiprod.nn.rectified_flow import velocity_loss

    shared = torch.zeros(1, 2, 3, 4, 4)
    shared[:, :, :, 1, 1] = 1.0  # the same cell off in every frame: a clip a little off
    moving = torch.zeros(1, 2, 3, 4, 4)
    for frame, col in enumerate([0, 1, 2]):
        moving[:, :, frame, 1, col] = 1.0  # a different cell in each frame: motion off
    plain = [velocity_loss(e, None) for e in (shared, moving)]
    torch.testing.assert_close(plain[0], plain[1])  # the same squares: alike without the term
    weighted = [velocity_loss(e, None, LossWeights(temporal=2.0)) for e in (shared, moving)]
    torch.testing.assert_close(weighted[0], plain[0])  # no change between frames: no extra
    cells = 2 * 2 * 4 * 4  # channels x frame pairs x h x w
    change = 2 * 2 * 2  # two cells change by 1 in each channel and frame pair
    torch.testing.assert_close(weighted[1], plain[1] + 2.0 * change / cells)
    one_frame = velocity_loss(moving[:, :, :1], None, LossWeights(temporal=2.0))
    torch.testing.assert_close(one_frame, velocity_loss(moving[:, :, :1], None))


class _KnownVelocities(torch.nn.Module):
    """A stand-in backbone whose velocity says which branch ran: 1 with no text, 3 with text,
    4 with the flow and no text, 9 with text and flow; it counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.calls = 0

    def forward(self, x, t, text, text_mask, flow, drop_text=None, drop_flow=None):
        self.calls += 1
        null = drop_text is not None and bool(drop_text.all())
        value = {(True, False): 1.0, (False, False): 3.0, (True, True): 4.0, (False, True): 9.0}
        return torch.full_like(x, value[(null, flow is not None)])


@pytest.mark.quick
@pytest.mark.parametrize("cfg", [1.0, 6.0])
@pytest.mark.parametrize("strength", [0.0, 0.5, 1.0])
def test_sampler_blends_text_guided_predictions_without_and_with_the_flow(cfg, strength):
    """One Euler step from t=1 to 0: x0 = noise - v, with v = (1 - s) (1 + cfg (3 - 1))
    + s (1 + cfg (4 - 1) + c (9 - 4)), c = max(1, cfg / 4): the flow guided at the CFG scale,
    the text on top at a quarter of it, and s alone weighs the branches. The null pass is
    shared: 2 passes at s = 0, 3 at s = 1, 4 between (one each without CFG)."""
    shape = (2, 4, 3, 2, 2)
    text, mask = torch.zeros(2, 1, 8), torch.ones(2, 1, dtype=torch.bool)
    flow = torch.zeros(2, 2, 3, 2, 2)
    model = _KnownVelocities()
    out = sample(model, shape, text, mask, 1, cfg, flow, strength, seed=3)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    text_scale = max(1.0, cfg / 4)
    flow_branch = 1.0 + cfg * 3.0 + text_scale * 5.0
    expected = (1 - strength) * (1.0 + cfg * 2.0) + strength * flow_branch
    torch.testing.assert_close(out, noise - expected)
    if cfg == 1.0:
        assert flow_branch == 9.0  # without CFG the branches are the plain conditionals
    calls = {0.0: 2, 0.5: 4, 1.0: 3} if cfg != 1.0 else {0.0: 1, 0.5: 2, 1.0: 1}
    assert model.calls == calls[strength]
    unguided = sample(_KnownVelocities(), shape, text, mask, 1, cfg, None, strength, seed=3)
    torch.testing.assert_close(unguided, noise - (1.0 + cfg * 2.0))  # no flow: no flow branch
    with pytest.raises(ValueError, match="guidance_strength"):
        sample(_KnownVelocities(), shape, text, mask, 1, cfg, flow, 1.5)
