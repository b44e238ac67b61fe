"""Stage `evaluate`: every figure of the trained model, as DVC metrics, plots and a gallery."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch

from aiprod.config import AiprodConfig
from aiprod.curation.truth import SHAPES_WORLD_ONLY, clip_segment, has_ground_truth
from aiprod.evaluate.adherence import adherence, adherence_summary, read_back_ceiling
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.classifier import load_classifier
from aiprod.evaluate.contradiction import contradiction_metrics
from aiprod.evaluate.fvd import fvd_metrics, real_set
from aiprod.evaluate.gallery import GalleryItem, write_gallery
from aiprod.evaluate.held_out import HeldOut, flow_guidance_metrics, held_out
from aiprod.evaluate.motion import direction_reader_accuracy, motion_summary
from aiprod.evaluate.prompts import Prompt, eval_prompts
from aiprod.evaluate.sampling import generate_batched
from aiprod.evaluate.steps_guidance import steps_guidance_metrics
from aiprod.fsutil import write_parquet
from aiprod.generate import VideoGenerator, write_video
from aiprod.runtime import Runtime
from aiprod.video.decode import read_clip


def moving_object_clips(
    config: AiprodConfig, size: int, frames: int, step: int
) -> Iterator[tuple[torch.Tensor, str]]:
    """Real clips of one object moving straight with a still camera, with their direction."""
    for row in pd.read_parquet(config.ingest.manifest).itertuples(index=False):
        segment = clip_segment(row.path, row.start_frame, row.end_frame)
        if segment is None or segment["scene"]["camera"] != "static":
            continue
        objects = segment["scene"]["objects"]
        if len(objects) != 1 or objects[0]["motion"] not in ("linear", "fast"):
            continue
        rgb = read_clip(row.path, (size, size))[::step][:frames, ..., ::-1].copy()
        if len(rgb) == frames:
            video = torch.from_numpy(rgb).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)
            yield video, objects[0]["direction"]


def evaluate_stage(config: AiprodConfig, runtime: Runtime) -> dict:
    """Every figure that applies to the corpus. On footage without the shapes world's ground
    truth, the parts that read generated videos back with the shapes classifier (adherence,
    read-back ceilings, the direction reader, a shapes-feature FVD) are skipped, each with
    the reason in the metrics; flow agreement, VAE figures and an I3D FVD still apply."""
    ev = config.evaluate
    generator = VideoGenerator(ev.checkpoint, runtime=runtime)
    torch.manual_seed(ev.seed)
    shapes_world = has_ground_truth(pd.read_parquet(config.ingest.manifest))
    held = list(held_out(config, ev.flow_videos))
    flow_results, guided = flow_guidance_metrics(generator, held, config)
    vae = json.loads(Path(config.train_vae.metrics).read_text(encoding="utf-8"))
    metrics = {
        "flow_agreement": flow_results,
        "vae": {k: vae[k] for k in ("psnr", "ssim", "compression_ratio") if k in vae},
        "sampler": {"steps": ev.steps, "cfg": ev.cfg, "checkpoint": ev.checkpoint},
        "runtime": {"device": str(runtime.device), "precision": runtime.cfg.precision},
    }
    prompts, prompt_videos, table = [], torch.empty(0), pd.DataFrame()
    if shapes_world:
        classifier = runtime.to(load_classifier(Path(config.classifier.out_dir) / CLASSIFIER_FILE))
        languages = ev.languages + ev.zero_shot_languages
        prompts = eval_prompts(languages, ev.prompts_per_language, ev.seed)
        prompt_videos = generate_batched(generator, [p.text for p in prompts], config)
        table = adherence(prompt_videos, prompts, classifier)
        zero_shot = table["language"].isin(ev.zero_shot_languages)
        metrics["adherence"] = adherence_summary(table[~zero_shot])
        metrics["generated_motion"] = motion_summary(table[~zero_shot])
        if zero_shot.any():
            metrics["adherence_zero_shot"] = adherence_summary(table[zero_shot])
        metrics["direction_reader_on_real_clips"] = direction_reader_accuracy(
            moving_object_clips(config, generator.size, generator.frames, generator.frame_step)
        )
        metrics["read_back_ceiling"] = read_back_ceiling(generator, classifier, config)
        metrics["contradicting_references"] = contradiction_metrics(generator, config)
    else:
        metrics["adherence"] = {"skipped": SHAPES_WORLD_ONLY}
        metrics["read_back_ceiling"] = {"skipped": SHAPES_WORLD_ONLY}
        metrics["steps_and_guidance"] = {"skipped": SHAPES_WORLD_ONLY}
    if shapes_world or ev.fvd_extractor == "i3d":
        real = real_set(generator, config)
        metrics["fvd"] = fvd_metrics(generator, config, real)
        if shapes_world and ev.sweep_steps:
            metrics["steps_and_guidance"] = steps_guidance_metrics(
                generator, config, classifier, real, metrics["fvd"]["fvd"]
            )
    else:
        metrics["fvd"] = {
            "skipped": f"{SHAPES_WORLD_ONLY}; set evaluate.fvd_extractor: i3d and "
            "evaluate.i3d_path (a local TorchScript I3D) for FVD on your footage"
        }
    plots = Path(ev.plots_dir)
    write_parquet(plots / "adherence_rows.parquet", table)
    adherence_rows = _adherence_rows(metrics["adherence"]) if shapes_world else []
    _write_csv(plots / "adherence.csv", adherence_rows)
    _write_csv(
        plots / "flow_agreement.csv",
        [
            {
                "guidance_strength": float(k[1:]),
                "all_pixels": v["all_pixels"],
                "moving_pixels": v["moving_pixels"],
            }
            for k, v in flow_results.items()
            if k.startswith("s")
        ],
    )
    _gallery(config, prompts, prompt_videos, table, guided, held, generator, metrics)
    return metrics


def _adherence_rows(summary: dict) -> list[dict]:
    return [
        {"language": lang, "colour": v["colour"], "shape": v["shape"], "direction": v["direction"]}
        for lang, v in summary.items()
        if lang != "chance"
    ]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    from aiprod.fsutil import atomic_write

    return atomic_write(path, lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))


def _gallery(
    config: AiprodConfig,
    prompts: list[Prompt],
    videos: torch.Tensor,
    table: pd.DataFrame,
    guided: dict[float, torch.Tensor],
    held: list[HeldOut],
    generator: VideoGenerator,
    metrics: dict,
) -> None:
    ev = config.evaluate
    page, media = Path(ev.gallery), Path(ev.media_dir)
    media.mkdir(parents=True, exist_ok=True)
    link = os.path.relpath(media, page.parent)
    sections: dict[str, list[GalleryItem]] = defaultdict(list)
    per_language = ev.prompts_per_language
    for k, prompt in enumerate(prompts):
        if prompt.language not in ev.gallery_languages or k % per_language >= 4:
            continue
        name = f"prompt_{prompt.language}_{k % per_language:02d}.mp4"
        write_video(media / name, videos[k], generator.fps, scale=4)
        row = table.iloc[k]
        note = f"read back: {row.read_colour} {row.read_shape}, moving {row.read_direction}"
        sections["Prompts in several languages"].append(
            GalleryItem(f"{link}/{name}", prompt.text, prompt.language, note)
        )
    for strength, batch in guided.items():
        for i in range(min(3, len(batch))):
            name = f"guided_{i}_s{strength:g}.mp4"
            write_video(media / name, batch[i], generator.fps, scale=4)
            sections[f"Flow guidance from held-out clips, strength {strength:g}"].append(
                GalleryItem(f"{link}/{name}", held[i].caption, "flow", f"guidance {strength:g}")
            )
    for i in range(min(3, len(held))):
        name = f"real_{i}.mp4"
        write_video(media / name, held[i].video, generator.fps, scale=4)
        sections["Held-out real clips (the guides above)"].append(
            GalleryItem(f"{link}/{name}", held[i].caption, "real")
        )
    adherence = [
        {"language": lang, **{k: v for k, v in row.items()}}
        for lang, row in metrics["adherence"].items()
        if isinstance(row, dict)
    ]
    flow = [{"strength": k, **v} for k, v in metrics["flow_agreement"].items()]
    write_gallery(
        page,
        dict(sections),
        {
            "Prompt adherence (share read back correctly)": adherence,
            "Flow agreement": flow,
            "FVD": [metrics["fvd"]],
        },
    )
