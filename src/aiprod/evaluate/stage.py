"""Stage `evaluate`: every figure of the trained model, as DVC metrics, plots and a gallery."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import binomtest

from aiprod.config import AiprodConfig
from aiprod.curation.truth import clip_segment
from aiprod.evaluate.classifier import COLOUR_NAMES, load_classifier, predict, rendered_video
from aiprod.evaluate.classifier import MODEL_FILE as CLASSIFIER_FILE
from aiprod.evaluate.features import Extractor, make_extractor
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
from aiprod.latents.batches import choose_variant, expand_window, latent_shards
from aiprod.latents.stage import phase_windows
from aiprod.runtime import Runtime
from aiprod.shards.stream import sequential
from aiprod.synth.world import DIRECTIONS, SHAPES
from aiprod.train.data import first_fields, phase_dirs, pixel_shards, pixel_windows
from aiprod.train.phase_stage import PHASES, latent_dir
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

    reconstructed = generator.codec.decode(generator.codec.encode(rendered)).cpu()
    return {"rendered": score(rendered), "vae": score(reconstructed), "scenes": len(scenes)}


@dataclass
class HeldOut:
    """A held-out window as evaluation uses it: caption, latent-grid guide flow (what the
    model conditions on), the stored pixel flow (what agreement is measured against), and
    the real frames."""

    caption: str
    guide: torch.Tensor  # (2, P, h, w) at the latent grid
    flow: np.ndarray  # (P, 2, H, W) px/frame at the stored size
    video: torch.Tensor  # (3, T, H, W) in [-1, 1]


def held_out(config: AiprodConfig, limit: int) -> Iterator[HeldOut]:
    """The first `limit` held-out windows at phase 5's settings: the latent shards that
    `encode` wrote for phase 5, beside the pixel windows they were cut from (same order and
    keys)."""
    ev = config.evaluate
    spec = phase_windows(config, 5, 1)
    pixels = sequential(
        pixel_shards(
            phase_dirs(config.shards.dir, list(PHASES)),
            spec,
            config.shards.holdout_share,
            holdout=True,
        ),
        lambda raw: pixel_windows(raw, spec),
    )
    latents = sequential(latent_shards([latent_dir(config, 5, "heldout")]), expand_window)
    for i, (latent, pixel) in enumerate(islice(zip(latents, pixels, strict=False), limit)):
        if latent.key != pixel.key:
            raise ValueError(
                f"{latent_dir(config, 5, 'heldout')}: {latent.key} where the pixel shards "
                f"give {pixel.key} (re-run `dvc repro encode`)"
            )
        row = choose_variant(latent.texts, i, ev.seed, tag_dropout=1.0)
        pairs = latent.flow.shape[1]
        yield HeldOut(
            latent.texts[row]["text"],
            torch.from_numpy(latent.flow.astype(np.float32)),
            first_fields(pixel.flow, pairs),
            pixel.as_float(),
        )


def flow_guidance_metrics(
    generator: VideoGenerator, held: list[HeldOut], config: AiprodConfig
) -> tuple[dict, dict[float, torch.Tensor]]:
    ev = config.evaluate
    stride = generator.codec.temporal_factor
    results, videos = {}, {}
    if not held:  # a tiny corpus may hold no clip out: nothing to guide with
        empty = {"all_pixels": None, "moving_pixels": None, "videos": 0}
        keys = [f"s{s:g}" for s in ev.guidance_strengths] + ["real_clips_ceiling"]
        return {key: empty for key in keys}, {}
    captions = [h.caption for h in held]
    guides = torch.stack([h.guide for h in held])

    def agreement(measured: list[np.ndarray]) -> dict:
        pairs = zip(measured, held, strict=True)
        scores = [flow_agreement(m, h.flow, ev.tolerance) for m, h in pairs]
        moving = [s["moving"] for s in scores if not np.isnan(s["moving"])]
        return {
            "all_pixels": round(float(np.mean([s["all"] for s in scores])), 4),
            "moving_pixels": round(float(np.mean(moving)), 4) if moving else None,
            "videos": len(held),
        }

    for strength in ev.guidance_strengths:
        generated = _generate(generator, captions, config, guides, strength)
        results[f"s{strength:g}"] = agreement([video_flow(v, stride) for v in generated])
        videos[strength] = generated
    results["real_clips_ceiling"] = agreement([video_flow(h.video, stride) for h in held])
    return results, videos


def _features(extractor: Extractor, videos: Iterator[torch.Tensor]) -> np.ndarray:
    """Features of a stream of video batches (never all videos at once)."""
    parts = [extractor(batch).numpy() for batch in videos]
    return np.concatenate(parts) if parts else np.zeros((0, 1))


def _batched(items: Iterator[torch.Tensor], size: int = BATCH) -> Iterator[torch.Tensor]:
    while batch := list(islice(items, size)):
        yield torch.stack(batch)


def fvd_metrics(generator: VideoGenerator, config: AiprodConfig) -> dict:
    """FVD of generated vs held-out real clips (up to `evaluate.fvd_videos`), and of real
    training vs held-out clips (the floor), every side streamed in batches.

    A distance needs two videos on each side; with fewer (a tiny corpus) it is null."""
    ev = config.evaluate
    extractor = make_extractor(
        ev.fvd_extractor,
        Path(config.classifier.out_dir) / CLASSIFIER_FILE,
        ev.i3d_path,
        generator.runtime.device,
    )
    captions: list[str] = []
    frames = 0

    def real() -> Iterator[torch.Tensor]:
        nonlocal frames
        for h in held_out(config, ev.fvd_videos):
            captions.append(h.caption)
            frames = int(h.video.shape[1])
            yield h.video

    real_features = _features(extractor, _batched(real()))
    generated = (
        _generate(generator, captions[k : k + BATCH], config)
        for k in range(0, len(captions), BATCH)
    )
    fake_features = _features(extractor, generated)
    spec = phase_windows(config, 5, 1)
    train_shards = pixel_shards(
        phase_dirs(config.shards.dir, [5]), spec, config.shards.holdout_share, holdout=False
    )
    train_windows = (
        w.as_float() for w in sequential(train_shards, lambda raw: pixel_windows(raw, spec))
    )
    floor = _features(extractor, _batched(islice(train_windows, 2 * len(captions))))
    return {
        "extractor": extractor.name,
        "fvd": _distance(real_features, fake_features),
        "fvd_real_train_vs_held_out": _distance(real_features, floor),
        "videos": len(captions),
        "frames_per_video": frames,
    }


def _distance(a: np.ndarray, b: np.ndarray) -> float | None:
    return round(feature_distance(a, b), 4) if min(len(a), len(b)) >= 2 else None


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
    ev = config.evaluate
    generator = VideoGenerator(ev.checkpoint, runtime=runtime)
    classifier = runtime.to(load_classifier(Path(config.classifier.out_dir) / CLASSIFIER_FILE))
    torch.manual_seed(ev.seed)

    prompts = eval_prompts(ev.languages, ev.prompts_per_language, ev.seed)
    prompt_videos = _generate(generator, [p.text for p in prompts], config)
    table = adherence(prompt_videos, prompts, classifier)
    held = list(held_out(config, ev.flow_videos))
    flow_results, guided = flow_guidance_metrics(generator, held, config)
    fvd = fvd_metrics(generator, config)
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
        "runtime": {"device": str(runtime.device), "precision": runtime.cfg.precision},
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
