"""The resumable training loop: a killed run resumes onto the uninterrupted loss curve."""

import pytest
import torch
from tiny_models import tiny_backbone

from aiprod.nn.backbone import HybridBackbone
from aiprod.nn.rectified_flow import Batch, training_loss
from aiprod.train.loop import LoopConfig, NonFiniteLoss, train

CFG = tiny_backbone()


def batch_at(position: int, size: int) -> Batch:
    g = torch.Generator().manual_seed(position)  # the data at a position never changes
    return Batch(
        torch.randn(size, 4, 2, 4, 4, generator=g),
        torch.randn(size, 3, 16, generator=g),
        torch.ones(size, 3, dtype=torch.bool),
        torch.randn(size, 2, 1, 4, 4, generator=g),
    )


def model() -> HybridBackbone:
    torch.manual_seed(0)
    return HybridBackbone(CFG)


def loss_fn(net, batch, generator):
    return training_loss(net, batch, generator, text_dropout=0.2, flow_dropout=0.3)


LOOP = LoopConfig(steps=12, lr=1e-3, warmup=3, batch_size=2, checkpoint_every=4, seed=7)


def test_resumed_run_equals_uninterrupted(tmp_path):
    _, _, whole = train(model(), loss_fn, batch_at, LOOP, tmp_path / "a")
    first = train(model(), loss_fn, batch_at, LOOP, tmp_path / "b", stop_after=8)[2]
    state, _, rest = train(model(), loss_fn, batch_at, LOOP, tmp_path / "b")
    assert state.step == 12 and state.position == 24
    assert first + rest == whole  # bit for bit on the CPU


def test_killed_between_checkpoints_repeats_only_the_lost_steps(tmp_path):
    _, _, whole = train(model(), loss_fn, batch_at, LOOP, tmp_path / "a")
    train(model(), loss_fn, batch_at, LOOP, tmp_path / "b", stop_after=6)  # checkpoint at 4
    _, _, rest = train(model(), loss_fn, batch_at, LOOP, tmp_path / "b")
    assert rest == whole[4:]


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    calls = {"n": 0}

    def exploding(net, batch, generator):
        calls["n"] += 1
        loss = loss_fn(net, batch, generator)
        return loss * float("nan") if calls["n"] == 6 else loss

    with pytest.raises(NonFiniteLoss, match="loss is nan at step 5.*last good checkpoint"):
        train(model(), exploding, batch_at, LOOP, tmp_path)
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert saved["state"]["step"] == 4


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    fingerprinted = LoopConfig(**{**LOOP.__dict__, "fingerprint": "a"})
    train(model(), loss_fn, batch_at, fingerprinted, tmp_path, stop_after=8)
    other = LoopConfig(**{**LOOP.__dict__, "fingerprint": "b"})
    state, _, losses = train(model(), loss_fn, batch_at, other, tmp_path)
    assert len(losses) == 12 and state.fingerprint == "b"  # started afresh
    _, _, again = train(model(), loss_fn, batch_at, other, tmp_path)
    assert again == []  # same fingerprint: already finished, nothing to do
