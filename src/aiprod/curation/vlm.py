"""A local vision-language captioner (any transformers image-text-to-text model on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aiprod.video.decode import read_clip


class VlmCaptioner:
    """Captions N frames sampled through a clip; keeps the middle frame's caption."""

    def __init__(self, model_dir: str, frames: int, max_new_tokens: int, language: str) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"caption.vlm.model_dir: {model_dir!r} is not a folder")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
        self.model.eval()
        self.frames, self.max_new_tokens, self.language = frames, max_new_tokens, language

    @torch.inference_mode()
    def caption_frames(self, frames: np.ndarray) -> list[str]:
        """One caption per (H, W, 3) RGB frame."""
        inputs = self.processor(images=list(frames), return_tensors="pt")
        generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
        return [
            text.strip()
            for text in self.processor.batch_decode(generated, skip_special_tokens=True)
        ]

    def __call__(self, row: dict) -> dict[str, str]:
        clip = read_clip(row["path"])[..., ::-1]  # BGR -> RGB
        picks = np.linspace(0, len(clip) - 1, self.frames).round().astype(int)
        texts = self.caption_frames(clip[picks])
        middle = texts[len(texts) // 2]
        return {self.language: middle} if middle else {}
