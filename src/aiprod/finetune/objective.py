"""The base's own objective: flow matching with its scheduler's time shift.

A window at sigma s is `s * noise + (1 - s) * latents` and the transformer predicts the
velocity `noise - latents` (diffusers' FlowMatchEulerDiscreteScheduler convention). Noise,
timestep and the dropouts of each window come from its ordinal in the data order
(`seeded_draw`), so a resumed run, or one on more ranks, draws the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from aiprod.latents.batches import LatentBatch
from aiprod.nn.rectified_flow import PLAIN_LOSS, LossWeights, seeded_draw, velocity_loss


@dataclass(frozen=True)
class NullText:
    """The empty prompt's features: what a dropped caption trains with."""

    hidden: torch.Tensor  # (L, D)
    mask: torch.Tensor  # (L,)


def with_null_text(
    hidden: torch.Tensor, mask: torch.Tensor, drop: torch.Tensor, null: NullText
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows where `drop` is set get the empty prompt, padded to a common length."""
    if not drop.any():
        return hidden, mask
    length = max(hidden.shape[1], null.hidden.shape[0])
    hidden = torch.nn.functional.pad(hidden, (0, 0, 0, length - hidden.shape[1]))
    mask = torch.nn.functional.pad(mask, (0, length - mask.shape[1]))
    n = null.hidden.shape[0]
    hidden, mask = hidden.clone(), mask.clone()
    hidden[drop] = 0
    mask[drop] = False
    hidden[drop, :n] = null.hidden.to(hidden)
    mask[drop, :n] = null.mask.to(mask.device)
    return hidden, mask


def flow_matching_loss(  # noqa: ANN201 (a loss_fn factory)
    text_dropout: float,
    flow_dropout: float,
    timestep_mean: float,
    seed: int,
    shift: Callable[[torch.Tensor], torch.Tensor],
    null: NullText,
    weights: LossWeights = PLAIN_LOSS,
):
    """The loop's loss of a LatentBatch; `weights` as the aiprod backbone's (motion-weighted
    cells, the error's frame-to-frame change)."""

    def loss_fn(model: torch.nn.Module, batch: LatentBatch) -> torch.Tensor:
        latents = batch.latents.float()
        draw = seeded_draw(
            batch.ordinals, tuple(latents.shape[1:]), seed, text_dropout, flow_dropout,
            timestep_mean, latents.device,
        )  # fmt: skip
        sigma = shift(draw.t.float())
        s = sigma.view(-1, 1, 1, 1, 1)
        noisy = s * draw.noise + (1 - s) * latents
        uncaptioned = torch.tensor([not t.strip() for t in batch.texts], device=latents.device)
        hidden, mask = batch.frozen
        hidden, mask = with_null_text(hidden, mask, draw.drop_text | uncaptioned, null)
        strength = (~draw.drop_flow).float()
        predicted = model(noisy, sigma, hidden, mask, batch.flow, strength)
        return velocity_loss(predicted - (draw.noise - latents), batch.flow, weights).mean()

    return loss_fn
