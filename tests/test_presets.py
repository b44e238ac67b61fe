import pytest
import torch

from aiprod.config import parse_config
from aiprod.nn.backbone import HybridBackbone
from aiprod.nn.presets import PRESETS, preset

pytestmark = pytest.mark.quick


def count(cfg) -> float:
    with torch.device("meta"):
        return sum(p.numel() for p in HybridBackbone(cfg).parameters())


def test_preset_sizes():
    assert count(preset("tiny").backbone) < 2e6
    assert 0.9e9 < count(preset("medium").backbone) < 1.1e9
    full = preset("full").backbone
    assert full.kinds().count("A") == 30 and full.kinds().count("C") == 18 and full.width == 1152
    with pytest.raises(KeyError, match="choose one of tiny, small, consumer8g, medium, full"):
        preset("huge")
    assert set(PRESETS) == {"tiny", "small", "consumer8g", "medium", "full"}
    gtx = preset("consumer8g").backbone  # sized for an 8 GB GTX 1070 (see train_memory.py)
    assert gtx.kinds().count("A") == 12 and gtx.kinds().count("C") == 6 and gtx.width == 768
    assert 0.15e9 < count(gtx) < 0.3e9


def test_model_params_are_checked(params):
    params["model"]["text_encoder"] = "hf"
    with pytest.raises(ValueError, match="model.text_encoder_path: must name a local"):
        parse_config(params)
    params["model"].update(text_encoder="bytes", preset="huge")
    with pytest.raises(ValueError, match="model.preset"):
        parse_config(params)
