"""The resumable training loop: a killed run resumes onto the uninterrupted loss curve."""

import pytest
import torch
from tiny_models import tiny_backbone

from aiprod.config import RuntimeConfig
from aiprod.nn.backbone import HybridBackbone
from aiprod.nn.rectified_flow import Batch, per_sample_loss, seeded_draw
from aiprod.runtime import resolve
from aiprod.train.checkpoint import CHECKPOINTS, latest, read_sidecar
from aiprod.train.loop import LoopConfig, NonFiniteLoss, PositionBatches, train

CFG = tiny_backbone()
CPU = resolve(RuntimeConfig(device="cpu"))


def sample(i: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(i)  # sample i never changes
    shapes = [(4, 2, 4, 4), (3, 16), (2, 1, 4, 4)]
    return tuple(torch.randn(shape, generator=g) for shape in shapes)


def batch_at(position: int, size: int) -> tuple[Batch, torch.Tensor]:
    latents, text, flow = (
        torch.stack(x) for x in zip(*map(sample, range(position, position + size)), strict=True)
    )
    batch = Batch(latents, text, torch.ones(size, 3, dtype=torch.bool), flow)
    return batch, torch.arange(position, position + size)


DATA = PositionBatches(batch_at, 2)


def model() -> HybridBackbone:
    torch.manual_seed(0)
    return HybridBackbone(CFG)


def loss_fn(net, data):
    batch, ordinals = data
    draw = seeded_draw(ordinals, tuple(batch.latents.shape[1:]), 7, 0.2, 0.3)
    losses = per_sample_loss(net, batch, draw.t, draw.noise, draw.drop_text, draw.drop_flow)
    return losses.mean()


LOOP = LoopConfig(steps=12, lr=1e-3, warmup=3, batch_size=2, checkpoint_every=4, seed=7)


def test_resumed_run_equals_uninterrupted(tmp_path):
    whole = train(model(), loss_fn, DATA, LOOP, tmp_path / "a", CPU).losses
    first = train(model(), loss_fn, DATA, LOOP, tmp_path / "b", CPU, stop_after=8).losses
    result = train(model(), loss_fn, DATA, LOOP, tmp_path / "b", CPU)
    assert result.state.step == 12 and result.state.position == 24
    assert first + result.losses == whole  # bit for bit on the CPU
    folders = sorted((tmp_path / "b" / CHECKPOINTS).iterdir())
    assert [f.name for f in folders] == ["LATEST", "step-0000012"]  # one checkpoint kept


def test_killed_between_checkpoints_repeats_only_the_lost_steps(tmp_path):
    whole = train(model(), loss_fn, DATA, LOOP, tmp_path / "a", CPU).losses
    train(model(), loss_fn, DATA, LOOP, tmp_path / "b", CPU, stop_after=6)  # checkpoint at 4
    rest = train(model(), loss_fn, DATA, LOOP, tmp_path / "b", CPU).losses
    assert rest == whole[4:]


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    calls = {"n": 0}

    def exploding(net, data):
        calls["n"] += 1
        loss = loss_fn(net, data)
        return loss * float("nan") if calls["n"] == 6 else loss

    with pytest.raises(NonFiniteLoss, match="loss is nan at step 5.*last good checkpoint"):
        train(model(), exploding, DATA, LOOP, tmp_path, CPU)
    assert read_sidecar(latest(tmp_path))["state"]["step"] == 4


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    fingerprinted = LoopConfig(**{**LOOP.__dict__, "fingerprint": "a"})
    train(model(), loss_fn, DATA, fingerprinted, tmp_path, CPU, stop_after=8)
    other = LoopConfig(**{**LOOP.__dict__, "fingerprint": "b"})
    result = train(model(), loss_fn, DATA, other, tmp_path, CPU)
    assert len(result.losses) == 12 and result.state.fingerprint == "b"  # started afresh
    assert train(model(), loss_fn, DATA, other, tmp_path, CPU).losses == []  # finished


def test_gradient_accumulation_equals_the_larger_batch(tmp_path):
    """Two micro-batches of 2 per step = one batch of 4: the same positions, the same draws."""
    accumulated = resolve(RuntimeConfig(device="cpu", grad_accumulation=2))
    loop = LoopConfig(steps=5, lr=1e-3, batch_size=2, checkpoint_every=10, seed=7)
    two = train(model(), loss_fn, DATA, loop, tmp_path / "a", accumulated)
    wide = LoopConfig(**{**loop.__dict__, "batch_size": 4})
    one = train(model(), loss_fn, PositionBatches(batch_at, 4), wide, tmp_path / "b", CPU)
    assert two.state.position == one.state.position == 20
    torch.testing.assert_close(torch.tensor(two.losses), torch.tensor(one.losses))
    for a, b in zip(two.averaged.parameters(), one.averaged.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_same_weights_saved_twice_write_the_same_bytes(tmp_path):
    """DVC hashes model files: a re-run that trains the same weights must not look changed
    (saved to a path, torch names the archive's folder after the file, and atomic writes go
    through a randomly named temporary file)."""
    from aiprod.fsutil import save_torch

    payload = {"state_dict": HybridBackbone(tiny_backbone()).state_dict(), "step": 3}
    first = save_torch(tmp_path / "a" / "model.pt", payload)
    second = save_torch(tmp_path / "b" / "model.pt", payload)
    assert first.read_bytes() == second.read_bytes()
    loaded = torch.load(first, weights_only=False)
    assert loaded["step"] == 3
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in payload["state_dict"].items())
    assert not list(first.parent.glob(".*"))  # no temporary file left beside it
