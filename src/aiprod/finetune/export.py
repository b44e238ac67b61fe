"""What the short path hands over: LoRA weights in the format diffusers pipelines load with
`load_lora_weights`, the flow encoder beside them, and a model card.

`<out_dir>/pytorch_lora_weights.safetensors` (with its rank and alpha in the file's metadata,
so a pipeline loads it at the trained scale), `flow_encoder.safetensors` + `flow_encoder.json`
(its width and patch), `README.md` (the card: base, data hash, phases, steps, metrics).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from aiprod.finetune.bases import BaseSpec
from aiprod.finetune.diffusers_model import Denoiser, diffusers_class
from aiprod.finetune.flow_encoder import FlowEncoder
from aiprod.fsutil import atomic_write, write_json

LORA_FILE = "pytorch_lora_weights.safetensors"
FLOW_FILE = "flow_encoder.safetensors"
FLOW_CONFIG = "flow_encoder.json"
CARD = "README.md"


def save_adapter(denoiser: Denoiser, out_dir: Path, flow_units: dict | None = None) -> Path:
    """The transformer's LoRA layers through the base pipeline's own `save_lora_weights`;
    `flow_units` (save_size, stride, frame_step) say how a guide's flow must be measured."""
    from peft.utils import get_peft_model_state_dict

    transformer = denoiser.transformer
    layers = get_peft_model_state_dict(transformer)
    metadata = transformer.peft_config["default"].to_dict()
    metadata["target_modules"] = sorted(metadata["target_modules"])
    pipeline = diffusers_class(denoiser.spec.pipeline)
    out_dir.mkdir(parents=True, exist_ok=True)
    pipeline.save_lora_weights(
        out_dir, transformer_lora_layers=layers, transformer_lora_adapter_metadata=metadata
    )
    if denoiser.flow is not None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in denoiser.flow.state_dict().items()}
        atomic_write(out_dir / FLOW_FILE, lambda tmp: save_file(tensors, str(tmp)))
        write_json(
            out_dir / FLOW_CONFIG,
            {"width": denoiser.flow.out.out_channels, "patch": list(denoiser.flow.patch),
             "hidden": denoiser.flow.out.in_channels, "units": flow_units or {}},
        )  # fmt: skip
    return out_dir / LORA_FILE


def load_flow_encoder(lora_dir: str | Path) -> FlowEncoder | None:
    folder = Path(lora_dir)
    if not (folder / FLOW_CONFIG).is_file():
        return None
    config = json.loads((folder / FLOW_CONFIG).read_text())
    encoder = FlowEncoder(config["width"], tuple(config["patch"]), config["hidden"])
    encoder.load_state_dict(load_file(str(folder / FLOW_FILE)))
    return encoder.eval().requires_grad_(False)


def model_card(spec: BaseSpec | None, base: str, facts: dict) -> str:
    """A Hugging Face model card (YAML front matter, then the facts)."""
    library = "diffusers" if spec else "aiprod"
    lines = [
        "---",
        f"library_name: {library}",
        "tags: [lora, text-to-video, aiprod]",
        f"base_model: {facts.get('base_path') or base}",
        "---",
        "",
        f"# LoRA for {base}, trained by AIPROD's short path",
        "",
    ]
    if spec:
        lines += [
            "```python",
            f"from diffusers import {spec.pipeline}",
            f'pipe = {spec.pipeline}.from_pretrained("<base folder>")',
            'pipe.load_lora_weights("<this folder>")',
            "```",
            "",
        ]
    lines += [f"- **{key}**: {json.dumps(value)}" for key, value in facts.items()]
    return "\n".join(lines) + "\n"


def write_card(out_dir: Path, spec: BaseSpec | None, base: str, facts: dict) -> Path:
    text = model_card(spec, base, facts)
    return atomic_write(out_dir / CARD, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def data_hash(latents_dir: str | Path) -> str:
    """sha256 of the precomputed latents' indexes and meta (what the adapter saw, and the
    held-out windows it was judged on)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(latents_dir).rglob("*")):
        if path.is_file() and path.suffix in (".parquet", ".json"):
            digest.update(str(path.relative_to(latents_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def pipeline_with_lora(base_path: str, spec: BaseSpec, lora_dir: str, dtype: torch.dtype) -> object:
    """The base pipeline with the adapter loaded the way any diffusers user loads it."""
    pipe = diffusers_class(spec.pipeline).from_pretrained(base_path, dtype=dtype)
    pipe.load_lora_weights(lora_dir)
    return pipe
