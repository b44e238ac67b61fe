"""Training step time of the hybrid backbone against a pure transformer of equal depth.

fwd + bwd of one step at several token counts; prints ms per step for the pure transformer
(all attention blocks) and for the hybrid (the same depth with some blocks as local 3D
convolution), their ratio (the target is hybrid >= 1.2x faster at every length), and the
achieved TFLOP/s and MFU of each.

    python benchmarks/backbone_speed.py             # GPU when present: bf16, width 1152,
                                                    # 48 blocks vs 30 attention + 18 conv
    python benchmarks/backbone_speed.py --small     # CPU-sized: width 128, 8 vs 5 + 3
    python benchmarks/backbone_speed.py --conv full --compile
"""

from __future__ import annotations

import argparse
import time

import torch

from aiprod.nn.backbone import BackboneConfig, HybridBackbone

H100_BF16_DENSE_TFLOPS = 989.0  # the MFU denominator on an H100 SXM
GRIDS = {
    2048: (8, 16, 16),
    4096: (16, 16, 16),
    16384: (16, 32, 32),
    256: (4, 8, 8),
    512: (8, 8, 8),
    1024: (4, 16, 16),
}
TEXT_TOKENS = 64


def step_flops(cfg: BackboneConfig, tokens: int) -> float:
    """Analytic FLOPs of fwd + bwd (3x forward) for one sample."""
    d, hidden = cfg.width, int(cfg.width * cfg.mlp_ratio)
    mlp = 2 * tokens * 2 * d * hidden
    attention = (
        2 * tokens * 4 * d * d  # qkv + out
        + 2 * 2 * tokens * tokens * d  # scores + weighted sum
        + 2 * tokens * 2 * d * d
        + 2 * TEXT_TOKENS * 2 * d * d  # cross q/out, kv
        + 2 * 2 * tokens * TEXT_TOKENS * d
        + mlp
    )
    taps = 12 if cfg.conv == "separable" else 27
    conv = 2 * tokens * taps * d + mlp  # depthwise taps, then the MLP
    kinds = cfg.kinds()
    return 3.0 * (kinds.count("A") * attention + kinds.count("C") * conv)


def time_step(
    cfg: BackboneConfig,
    tokens: int,
    device: str,
    dtype: torch.dtype,
    repeats: int,
    compile_model: bool,
) -> float:
    """Median seconds of one fwd + bwd step."""
    torch.manual_seed(0)
    model = HybridBackbone(cfg).to(device)
    for p in model.parameters():  # open the adaLN-zero gates: a trained model's cost
        torch.nn.init.normal_(p, std=0.02)
    if compile_model:
        model = torch.compile(model)
    grid = GRIDS[tokens]
    x = torch.randn(1, cfg.latent_channels, *grid, device=device)
    text = torch.randn(1, TEXT_TOKENS, cfg.text_width, device=device)
    mask = torch.ones(1, TEXT_TOKENS, dtype=torch.bool, device=device)
    t = torch.rand(1, device=device)
    times = []
    for index in range(repeats + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
            loss = model(x, t, text, mask).float().pow(2).mean()
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if index >= 2:
            times.append(time.perf_counter() - start)
        model.zero_grad(set_to_none=True)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CPU-sized models and lengths")
    parser.add_argument("--conv", default="separable", choices=["separable", "full", "cudnn"])
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cuda = torch.cuda.is_available() and not args.small
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    if cuda:
        width, heads, attention, conv, lengths = 1152, 16, 30, 18, (2048, 4096, 16384)
    else:
        width, heads, attention, conv, lengths = 128, 4, 5, 3, (256, 512, 1024)
    common = dict(
        latent_channels=16,
        patch=(1, 1, 1),
        width=width,
        heads=heads,
        text_width=width,
        max_grid=(16, 32, 32),
        conv=args.conv,
    )
    pure = BackboneConfig(**common, attention_blocks=attention + conv, conv_blocks=0)
    hybrid = BackboneConfig(**common, attention_blocks=attention, conv_blocks=conv)
    name = torch.cuda.get_device_name() if cuda else "cpu"
    print(
        f"device {name}, {dtype}, width {width}, {attention + conv} attention blocks vs "
        f"{attention} attention + {conv} conv ({args.conv}), compile={args.compile}"
    )
    print(
        f"{'tokens':>7} {'pure ms':>9} {'hybrid ms':>10} {'speed-up':>9} "
        f"{'pure TFLOP/s':>13} {'hybrid TFLOP/s':>15} {'pure MFU':>9} {'hybrid MFU':>11}"
    )
    for tokens in lengths:
        pure_s = time_step(pure, tokens, device, dtype, args.repeats, args.compile)
        hybrid_s = time_step(hybrid, tokens, device, dtype, args.repeats, args.compile)
        pure_tf = step_flops(pure, tokens) / pure_s / 1e12
        hybrid_tf = step_flops(hybrid, tokens) / hybrid_s / 1e12
        mfu = (
            (lambda tf: f"{100 * tf / H100_BF16_DENSE_TFLOPS:.1f}%") if cuda else (lambda tf: "n/a")
        )
        print(
            f"{tokens:>7} {1e3 * pure_s:>9.1f} {1e3 * hybrid_s:>10.1f} {pure_s / hybrid_s:>8.2f}x "
            f"{pure_tf:>13.3f} {hybrid_tf:>15.3f} {mfu(pure_tf):>9} {mfu(hybrid_tf):>11}"
        )


if __name__ == "__main__":
    main()
