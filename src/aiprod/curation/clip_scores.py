"""Optional open_clip scores: aesthetic (an MLP head over image embeddings) and caption match.

Weights come only from local paths: an open_clip folder (`open_clip_config.json` + weights,
loaded with open_clip's `local-dir:` schema) and a head file of Linear layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from aiprod.config import ClipScoreConfig
from aiprod.curation.captions import sidecar_captions
from aiprod.video.decode import read_clip


def load_head(path: str | Path) -> nn.Sequential:
    """An MLP from a state dict of nn.Sequential Linear layers (ReLU between them)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    indices = sorted({int(key.split(".")[0]) for key in state if key.endswith(".weight")})
    layers: list[nn.Module] = []
    for position, index in enumerate(indices):
        out_features, in_features = state[f"{index}.weight"].shape
        layers.append(nn.Linear(in_features, out_features))
        if position < len(indices) - 1:
            layers.append(nn.ReLU())
    head = nn.Sequential(*layers)
    linear_names = [str(i) for i, layer in enumerate(head) if isinstance(layer, nn.Linear)]
    remapped = {
        f"{new}.{kind}": state[f"{old}.{kind}"]
        for new, old in zip(linear_names, indices, strict=True)
        for kind in ("weight", "bias")
    }
    head.load_state_dict(remapped)
    return head.eval()


class ClipScorer:
    """Embeds sampled frames and captions with a local open_clip model."""

    def __init__(self, cfg: ClipScoreConfig) -> None:
        import open_clip

        folder = Path(cfg.model_dir)
        if not (folder / "open_clip_config.json").exists():
            raise FileNotFoundError(f"score.clip.model_dir: no open_clip_config.json in {folder}")
        name = f"local-dir:{folder}"
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(name)
        self.tokenizer = open_clip.get_tokenizer(name)
        self.model.eval()
        self.head = load_head(cfg.aesthetic_head) if cfg.aesthetic_head else None
        self.frames = cfg.frames

    @torch.inference_mode()
    def image_embedding(self, clip_path: str) -> torch.Tensor:
        frames = read_clip(clip_path)[..., ::-1]
        picks = np.linspace(0, len(frames) - 1, self.frames).round().astype(int)
        batch = torch.stack(
            [self.preprocess(Image.fromarray(np.ascontiguousarray(frames[i]))) for i in picks]
        )
        embedding = self.model.encode_image(batch).mean(dim=0)
        return embedding / embedding.norm()

    @torch.inference_mode()
    def text_embedding(self, text: str) -> torch.Tensor:
        embedding = self.model.encode_text(self.tokenizer([text]))[0]
        return embedding / embedding.norm()

    def score(self, row: dict) -> dict:
        image = self.image_embedding(row["path"])
        result: dict = {"aesthetic": None, "clip_text_match": None}
        if self.head is not None:
            with torch.inference_mode():
                result["aesthetic"] = float(self.head(image[None])[0, 0])
        caption = sidecar_captions(row, "en").get("en")
        if caption:
            result["clip_text_match"] = float(image @ self.text_embedding(caption))
        return result


def add_clip_scores(
    scores: pd.DataFrame, manifest: pd.DataFrame, cfg: ClipScoreConfig
) -> pd.DataFrame:
    """`aesthetic` and `clip_text_match` columns for every clip."""
    scorer = ClipScorer(cfg)
    rows = manifest.set_index("clip_id").loc[scores["clip_id"]].reset_index().to_dict("records")
    extra = pd.DataFrame([scorer.score(row) for row in rows], index=scores.index)
    return pd.concat([scores, extra], axis=1)
