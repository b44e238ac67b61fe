"""The runtime seam: devices and precisions the machine cannot honour fail before any work,
naming the key; fp16 and bf16 train on the CPU; batches reach the device through one helper."""

import subprocess
import sys

import pytest
import torch
import yaml
from conftest import ROOT

from aiprod.config import ConfigError, RuntimeConfig
from aiprod.latents.batches import LatentBatch
from aiprod.runtime import check_precision, pick_device, preflight, resolve

pytestmark = pytest.mark.quick


def test_bf16_on_a_gpu_without_it_names_runtime_precision(monkeypatch):
    """A GTX 1070 (Pascal) has fp16 but no bf16: asking for bf16 there fails up front."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "GeForce GTX 1070")
    cfg = RuntimeConfig(precision="bf16")
    device = pick_device(cfg, world_size=1)
    assert device == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"runtime.precision: bf16 is not supported by cuda:0 "
                       r"\(GeForce GTX 1070\); use fp16"):  # fmt: skip
        check_precision(cfg, device)
    check_precision(RuntimeConfig(precision="fp16"), device)  # fp16 is the way there
    with pytest.raises(ConfigError, match="runtime.device: cuda:3, but this machine has 1 GPU"):
        pick_device(RuntimeConfig(device="cuda:3"), 1)
    with pytest.raises(ConfigError, match="under torchrun every rank takes cuda:LOCAL_RANK"):
        pick_device(RuntimeConfig(device="cuda:0"), 2)


def test_cuda_on_a_machine_without_one_fails_before_the_stage_starts(tmp_path, params):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="runtime.device: cuda asked for"):
        preflight(RuntimeConfig(device="cuda"))
    params["runtime"] = {**params["runtime"], "device": "cuda"}
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, "-m", "aiprod.cli", "train_vae", "--params", str(bad)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and "runtime.device: cuda asked for" in done.stderr
    assert "Traceback" not in done.stderr


def test_autocast_and_the_grad_scaler_follow_the_precision():
    for precision, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        runtime = resolve(RuntimeConfig(device="cpu", precision=precision))
        layer = torch.nn.Linear(8, 8)
        with runtime.autocast():
            out = layer(torch.randn(2, 8))
        assert out.dtype == dtype and layer.weight.dtype == torch.float32  # fp32 master weights
        assert runtime.grad_scaler().is_enabled() == (precision == "fp16")
    fp32 = resolve(RuntimeConfig(device="cpu"))
    with fp32.autocast():
        assert torch.nn.Linear(8, 8)(torch.randn(2, 8)).dtype == torch.float32


def test_one_helper_moves_modules_tensors_and_batches():
    runtime = resolve(RuntimeConfig(device="cpu"))
    batch = LatentBatch(
        torch.zeros(1, 4, 2, 4, 4), ["a"], torch.zeros(1, 8), torch.zeros(1, 2, 1, 4, 4),
        torch.zeros(1, dtype=torch.long), ["k"],
    )  # fmt: skip
    moved = runtime.to({"batch": batch, "pair": (torch.ones(1), "text")})
    assert isinstance(moved["batch"], LatentBatch) and moved["pair"][1] == "text"
    assert moved["batch"].latents.device.type == "cpu"
