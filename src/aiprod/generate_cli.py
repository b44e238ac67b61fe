"""`aiprod generate`: the command line of generation, on an AIPROD checkpoint
(`aiprod.generate.VideoGenerator`) or on a pretrained diffusers base with the short path's
adapter (`aiprod.finetune.generate`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aiprod.config import ConfigError, RuntimeConfig, load_config
from aiprod.generate import DEFAULT_CHECKPOINT, VideoGenerator, write_video
from aiprod.runtime import Runtime, resolve


def cli_runtime(params: str, device: str | None, precision: str | None) -> RuntimeConfig:
    """`runtime` from the params file when there is one, with the command line's overrides
    (validated as params are: a bad --device names `runtime.device`)."""
    base = load_config(params).runtime if Path(params).is_file() else RuntimeConfig()
    update = {k: v for k, v in (("device", device), ("precision", precision)) if v is not None}
    try:
        return RuntimeConfig.model_validate({**base.model_dump(), **update})
    except ValueError as error:
        raise ConfigError(f"runtime: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="aiprod generate", description="Generate a video from a prompt (any of 9 languages)."
    )
    parser.add_argument("prompt")
    parser.add_argument("-o", "--output", default="generated.mp4")
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--vae", default=None, help="VAE model.pt (default: the one trained with)")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance-strength", type=float, default=0.0)
    parser.add_argument("--motion-ref", default=None, help="video whose optical flow guides motion")
    parser.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscale of the mp4")
    parser.add_argument(
        "--params", default="params.yaml", help="its `runtime` section is used when it exists"
    )
    parser.add_argument(
        "--base", default="aiprod", choices=["aiprod", "ltx-video", "wan", "ltx-2"],
        help="a pretrained diffusers base instead of an AIPROD checkpoint",
    )  # fmt: skip
    parser.add_argument("--base-path", default=None, help="the base's local diffusers folder")
    parser.add_argument("--lora", default=None, help="the finetune stage's out_dir (adapter)")
    parser.add_argument("--width", type=int, default=None, help="diffusers bases (else --size)")
    parser.add_argument("--height", type=int, default=None, help="diffusers bases (else --size)")
    parser.add_argument("--device", default=None, help="overrides runtime.device")
    parser.add_argument(
        "--precision", default=None, choices=["fp32", "bf16", "fp16"], help="overrides runtime"
    )
    args = parser.parse_args(argv)
    try:
        if not args.prompt.strip():
            raise ValueError("the prompt is empty")
        if args.steps < 1:
            raise ValueError(f"--steps {args.steps}: must be >= 1")
        runtime = resolve(cli_runtime(args.params, args.device, args.precision))
        if args.base != "aiprod":
            return generate_on_base(args, runtime)
        generator = VideoGenerator(args.checkpoint, args.vae, runtime)
        frames, size = args.frames or generator.frames, args.size or generator.size
        flow = None
        if args.motion_ref:
            flow = generator.flow_from_video(args.motion_ref, frames, size)[None]
        video = generator(
            [args.prompt],
            frames,
            size,
            args.steps,
            args.cfg,
            args.seed,
            flow,
            args.guidance_strength,
        )[0]
        path = write_video(args.output, video, generator.fps, args.scale)
    except (ValueError, FileNotFoundError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    print(f"wrote {path} ({video.shape[1]} frames, {video.shape[2]}x{video.shape[3]})")  # noqa: T201
    return 0


def generate_on_base(args: argparse.Namespace, runtime: Runtime) -> int:
    """`--base ltx-video|wan`: the base's diffusers pipeline (+ `--lora`, + `--motion-ref`)."""
    from aiprod.finetune.generate import Request, generate_with_base

    if not args.base_path:
        raise ValueError(f"--base {args.base}: needs --base-path (its local diffusers folder)")
    size = args.size or 512
    request = Request(
        prompt=args.prompt, width=args.width or size, height=args.height or size,
        frames=args.frames or 49, steps=args.steps, cfg=args.cfg, seed=args.seed,
        motion_ref=args.motion_ref, strength=args.guidance_strength,
    )  # fmt: skip
    video = generate_with_base(args.base, args.base_path, args.lora, request, runtime)
    path = write_video(args.output, video, fps=24.0)
    print(f"wrote {path} ({video.shape[1]} frames, {video.shape[2]}x{video.shape[3]})")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
