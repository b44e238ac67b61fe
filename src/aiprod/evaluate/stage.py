"""Stage `evaluate`: every figure of the trained model, as DVC metrics, plots and a gallery."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import binomtest

from aiprod.config import AiprodConfig
from aiprod.curation.truth import clip_segment
from aiprod.evaluate.classifier import COLOUR_NAMES, load_classifier, predict, rendered_video
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.features import make_extractor
from aiprod.evaluate.frechet import feature_distance
from aiprod.evaluate.gallery import GalleryItem, write_gallery
from aiprod.evaluate.motion import (
    direction_reader_accuracy,
    dominant_direction,
    flow_agreement,
    video_flow,
)
from aiprod.evaluate.prompts import Prompt, eval_prompts, eval_scenes
from aiprod.fsutil import write_parquet
from aiprod.generate import VideoGenerator, write_video
from aiprod.synth.world import DIRECTIONS, SHAPES
from aiprod.train.data import NoClips
from aiprod.train.phase_stage import phase_data
from aiprod.train.t2v import PhaseData, flow_for, pick_caption
from aiprod.video.decode import read_clip

BATCH = 48


def _generate(
    generator: VideoGenerator,
    prompts: list[str],
    config: AiprodConfig,
    flows: torch.Tensor | None = None,
    strength: float = 0.0,
) -> torch.Tensor:
    ev = config.evaluate
    parts = []
    for start in range(0, len(prompts), BATCH):
        flow = flows[start : start + BATCH] if flows is not None else None
        parts.append(
            generator(
                prompts[start : start + BATCH],
                steps=ev.steps,
                cfg=ev.cfg,
                seed=ev.seed + start,
                flow=flow,
                guidance_strength=strength,
            )
        )
    return torch.cat(parts)


def adherence(
    videos: torch.Tensor, prompts: list[Prompt], classifier: torch.nn.Module
) -> pd.DataFrame:
    """One row per generated video: what was asked and what was read back (direction from
    the flow of every frame pair)."""
    colour, shape = predict(classifier, videos)
    rows = []
    for k, prompt in enumerate(prompts):
        direction = dominant_direction(video_flow(videos[k]))
        rows.append(
            {
                "language": prompt.language,
                "prompt": prompt.text,
                "colour": prompt.colour,
                "read_colour": COLOUR_NAMES[int(colour[k].argmax())],
                "shape": prompt.shape,
                "read_shape": SHAPES[int(shape[k].argmax())],
                "direction": prompt.direction,
                "read_direction": direction or "none",
            }
        )
    return pd.DataFrame(rows)


def adherence_summary(table: pd.DataFrame) -> dict:
    """Per language: the share read back right for colour, shape and direction, and for colour
    and direction the one-sided exact binomial p-value of doing that well by chance (what
    "beats chance clearly" means: a small p in every language)."""
    chance = {
        "colour": 1 / len(COLOUR_NAMES),
        "shape": 1 / len(SHAPES),
        "direction": 1 / len(DIRECTIONS),
    }
    out = {}
    for language, group in table.groupby("language", sort=False):
        hits = {key: group[key] == group[f"read_{key}"] for key in chance}
        out[language] = {key: round(float(hit.mean()), 4) for key, hit in hits.items()}
        for key in ("colour", "direction"):
            test = binomtest(int(hits[key].sum()), len(group), chance[key], alternative="greater")
            out[language][f"{key}_p"] = float(f"{test.pvalue:.3g}")
        out[language]["prompts"] = len(group)
    out["chance"] = {key: round(value, 4) for key, value in chance.items()}
    return out


def read_back_ceiling(
    generator: VideoGenerator, classifier: torch.nn.Module, config: AiprodConfig
) -> dict:
    """How much of each prompt the readers recover from the evaluation scenes themselves,
    rendered, and after a pass through the VAE: the most a generated video (which the VAE
    decodes) can score on colour and direction adherence. Read back as `adherence` reads."""
    ev = config.evaluate
    scenes = eval_scenes(ev.prompts_per_language, ev.seed)
    prompts = eval_prompts(ev.languages[:1], ev.prompts_per_language, ev.seed)  # same scenes
    rendered = torch.stack(
        [rendered_video(s, generator.frames, generator.frame_step, generator.size) for s in scenes]
    )

    def score(videos: torch.Tensor) -> dict:
        table = adherence(videos, prompts, classifier)
        return {
            k: round(float((table[k] == table[f"read_{k}"]).mean()), 4)
            for k in ("colour", "direction")
        }

    reconstructed = generator.codec.decode(generator.codec.encode(rendered))
    return {"rendered": score(rendered), "vae": score(reconstructed), "scenes": len(scenes)}


def flow_guidance_metrics(
    generator: VideoGenerator, held: PhaseData, config: AiprodConfig, stride: int
) -> tuple[dict, dict[float, torch.Tensor]]:
    ev = config.evaluate
    count = min(ev.flow_videos, len(held.bank))
    captions = [pick_caption(held.bank.captions[i], i, ev.seed) for i in range(count)]
    guides = torch.stack([flow_for(held.bank, i, held.pairs) for i in range(count)])
    results, videos = {}, {}
    for strength in ev.guidance_strengths:
        generated = _generate(generator, captions, config, guides, strength)
        scores = [
            flow_agreement(
                video_flow(generated[i], stride),
                guides[i].permute(1, 0, 2, 3).numpy(),
                ev.tolerance,
            )
            for i in range(count)
        ]
        moving = [s["moving"] for s in scores if not np.isnan(s["moving"])]
        results[f"s{strength:g}"] = {
            "all_pixels": round(float(np.mean([s["all"] for s in scores])), 4),
            "moving_pixels": round(float(np.mean(moving)), 4) if moving else None,
            "videos": count,
        }
        videos[strength] = generated
    ceiling = [
        flow_agreement(
            video_flow(held.bank.videos[i], stride),
            guides[i].permute(1, 0, 2, 3).numpy(),
            ev.tolerance,
        )
        for i in range(count)
    ]
    moving = [s["moving"] for s in ceiling if not np.isnan(s["moving"])]
    results["real_clips_ceiling"] = {
        "all_pixels": round(float(np.mean([s["all"] for s in ceiling])), 4),
        "moving_pixels": round(float(np.mean(moving)), 4) if moving else None,
        "videos": count,
    }
    return results, videos


def fvd_metrics(
    generator: VideoGenerator, held: PhaseData, train: PhaseData | None, config: AiprodConfig
) -> tuple[dict, torch.Tensor]:
    """FVD of generated vs held-out real clips, and of real training vs held-out (the floor).

    A distance needs two videos on each side; with fewer (a tiny corpus) it is null."""
    ev = config.evaluate
    extractor = make_extractor(
        ev.fvd_extractor, Path(config.classifier.out_dir) / CLASSIFIER_FILE, ev.i3d_path
    )
    real = held.bank.videos
    captions = [pick_caption(held.bank.captions[i], i, ev.seed) for i in range(len(real))]
    generated = _generate(generator, captions, config)
    real_features = extractor(real).numpy()
    out = {
        "extractor": extractor.name,
        "fvd": _distance(real_features, extractor(generated).numpy()),
        "fvd_real_train_vs_held_out": _distance(
            real_features, extractor(train.bank.videos[: len(real) * 2]).numpy()
        )
        if train is not None
        else None,
        "videos": len(real),
        "frames_per_video": int(real.shape[2]),
    }
    return out, generated


def _distance(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(feature_distance(a, b), 4) if min(len(a), len(b)) >= 2 else None


def moving_object_clips(config: AiprodConfig, size: int, frames: int, step: int) -> list:
    """Real clips of one object moving straight with a still camera, with their direction."""
    out = []
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
            out.append((video, objects[0]["direction"]))
    return out


def evaluate_stage(config: AiprodConfig) -> dict:
    ev = config.evaluate
    generator = VideoGenerator(ev.checkpoint)
    classifier = load_classifier(Path(config.classifier.out_dir) / CLASSIFIER_FILE)
    stride = generator.codec.temporal_factor
    held = phase_data(config, 5, generator.codec, holdout=True)
    try:  # the real-vs-real FVD floor; a tiny corpus may leave phase 5 no training clip
        train = phase_data(config, 5, generator.codec, holdout=False)
    except NoClips:
        train = None
    torch.manual_seed(ev.seed)

    prompts = eval_prompts(ev.languages, ev.prompts_per_language, ev.seed)
    prompt_videos = _generate(generator, [p.text for p in prompts], config)
    table = adherence(prompt_videos, prompts, classifier)
    flow_results, guided = flow_guidance_metrics(generator, held, config, stride)
    fvd, _ = fvd_metrics(generator, held, train, config)
    vae = json.loads(Path(config.train_vae.metrics).read_text(encoding="utf-8"))
    reader = direction_reader_accuracy(
        moving_object_clips(config, generator.size, generator.frames, generator.frame_step)
    )
    metrics = {
        "fvd": fvd,
        "flow_agreement": flow_results,
        "adherence": adherence_summary(table),
        "direction_reader_on_real_clips": reader,
        "read_back_ceiling": read_back_ceiling(generator, classifier, config),
        "vae": {k: vae[k] for k in ("psnr", "ssim", "compression_ratio") if k in vae},
        "sampler": {"steps": ev.steps, "cfg": ev.cfg, "checkpoint": ev.checkpoint},
    }
    plots = Path(ev.plots_dir)
    write_parquet(plots / "adherence_rows.parquet", table)
    _write_csv(plots / "adherence.csv", _adherence_rows(metrics["adherence"]))
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
    held: PhaseData,
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
            caption = pick_caption(held.bank.captions[i], i, ev.seed)
            sections[f"Flow guidance from held-out clips, strength {strength:g}"].append(
                GalleryItem(f"{link}/{name}", caption, "flow", f"guidance {strength:g}")
            )
    for i in range(min(3, len(held.bank))):
        name = f"real_{i}.mp4"
        write_video(media / name, held.bank.videos[i], generator.fps, scale=4)
        sections["Held-out real clips (the guides above)"].append(
            GalleryItem(
                f"{media.name}/{name}", pick_caption(held.bank.captions[i], i, ev.seed), "real"
            )
        )
    adherence = [
        {"language": lang, **{k: v for k, v in row.items()}}
        for lang, row in metrics["adherence"].items()
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
