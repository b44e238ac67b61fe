"""The short path's sampler composes text CFG and the flow guide as the aiprod sampler does."""

import pytest
import torch

from aiprod.finetune.objective import NullText
from aiprod.finetune.sampler import sample

pytestmark = pytest.mark.quick


class _KnownVelocities(torch.nn.Module):
    """1 with the null text and no flow, 3 with text, 4 with the null text and a flow whose
    tokens are on, 9 with both; counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x, sigma, hidden, mask, flow, weight):
        self.calls += 1
        null = bool((hidden == 0).all())
        guided = flow is not None and bool((weight > 0).all())
        value = {(True, False): 1.0, (False, False): 3.0, (True, True): 4.0, (False, True): 9.0}
        return torch.full_like(x, value[(null, guided)])


@pytest.mark.parametrize(("cfg", "strength"), [(6.0, 0.0), (6.0, 1.0), (1.0, 1.0), (3.0, 0.5)])
def test_one_step_takes_the_two_condition_guidance(cfg, strength):
    shape = (2, 4, 3, 2, 2)
    text = (torch.ones(2, 3, 8), torch.ones(2, 3, dtype=torch.bool))
    null = NullText(torch.zeros(3, 8), torch.ones(3, dtype=torch.bool))
    flow = torch.zeros(2, 2, 2, 2, 2)
    model = _KnownVelocities()
    out = sample(
        model,
        shape,
        text,
        null,
        1,
        cfg,
        lambda s: s,
        torch.Generator().manual_seed(0),
        flow,
        strength,
    )
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    if strength > 0 and cfg != 1:  # v_null + cfg (v_null(flow) - v_null) + c (v(flow) - ...)
        expected = 1.0 + cfg * (4.0 - 1.0) + max(1.0, cfg / 4) * (9.0 - 4.0)
        calls = 3
    elif strength > 0:
        expected, calls = 9.0, 2  # without CFG: the text-and-flow prediction
    else:
        expected, calls = 1.0 + cfg * (3.0 - 1.0), 2
    torch.testing.assert_close(out, noise - expected)  # one Euler step from sigma 1 to 0
    assert model.calls == calls
