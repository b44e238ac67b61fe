"""A local vision-language captioner: any transformers image-text-to-text model on disk.

Two kinds of model: an instruction-following chat VLM (Qwen2-VL, LLaVA, ...), asked
`caption.vlm.prompt` about several frames of the clip at once; or a plain image captioner
(BLIP), which captions each sampled frame and keeps the middle one's caption. Either way a
batch of clips goes through one `generate` call.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from aiprod.runtime import Runtime
from aiprod.video.decode import read_clip


class VlmCaptioner:
    """Captions clips in one language from `frames` frames sampled evenly through each."""

    def __init__(
        self,
        model_dir: str,
        frames: int,
        max_new_tokens: int,
        language: str,
        prompt: str = "",
        runtime: Runtime | None = None,
    ) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = Path(model_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"caption.vlm.model_dir: {model_dir!r} is not a folder")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        if prompt and not getattr(self.processor, "chat_template", None):
            raise ValueError(
                f"caption.vlm.prompt: the model in {model_dir} has no chat template (a plain "
                "captioner such as BLIP); leave the prompt empty for it"
            )
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # a batch generates on from its real last tokens
        model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True)
        self.runtime = runtime
        self.model = runtime.to(model) if runtime is not None else model
        self.model.eval()
        self.frames, self.max_new_tokens = frames, max_new_tokens
        self.language, self.prompt = language, prompt

    def _inputs(self, **kwargs: object) -> dict:
        inputs = self.processor(return_tensors="pt", **kwargs)
        return self.runtime.to(dict(inputs)) if self.runtime is not None else dict(inputs)

    def _generate(self, inputs: dict) -> torch.Tensor:
        with self.runtime.autocast() if self.runtime is not None else nullcontext():
            return self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False
            )

    @torch.inference_mode()
    def caption_frames(self, frames: np.ndarray) -> list[str]:
        """One caption per (H, W, 3) RGB frame (the plain-captioner path)."""
        generated = self._generate(self._inputs(images=list(frames)))
        return [t.strip() for t in self.processor.batch_decode(generated, skip_special_tokens=True)]

    @torch.inference_mode()
    def ask(self, clips: list[np.ndarray]) -> list[str]:
        """The chat path: per clip, one user turn with its frames and the instruction."""
        content = [{"type": "image"}] * self.frames + [{"type": "text", "text": self.prompt}]
        turn = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(turn, add_generation_prompt=True)
        images = [frame for clip in clips for frame in clip]
        inputs = self._inputs(text=[text] * len(clips), images=images, padding=True)
        generated = self._generate(inputs)[:, inputs["input_ids"].shape[1] :]  # the answers
        return [t.strip() for t in self.processor.batch_decode(generated, skip_special_tokens=True)]

    def sampled_frames(self, row: dict) -> np.ndarray:
        clip = read_clip(row["path"])[..., ::-1]  # BGR -> RGB
        picks = np.linspace(0, len(clip) - 1, self.frames).round().astype(int)
        return np.ascontiguousarray(clip[picks])

    def caption_clips(self, rows: list[dict]) -> list[dict[str, str]]:
        """Captions of a batch of clips ({language: text}, empty when the model said nothing)."""
        clips = [self.sampled_frames(row) for row in rows]
        if self.prompt:
            texts = self.ask(clips)
        else:
            captions = self.caption_frames(np.concatenate(clips))
            texts = [captions[k * self.frames + self.frames // 2] for k in range(len(clips))]
        return [{self.language: text} if text else {} for text in texts]

    def __call__(self, row: dict) -> dict[str, str]:
        return self.caption_clips([row])[0]
