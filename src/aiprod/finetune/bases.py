"""The pretrained bases the short path adapts, and what each one requires of its inputs.

A diffusers base is a local folder in diffusers layout (what `save_pretrained` or a
downloaded snapshot writes): `model_index.json` names the pipeline class and each component
folder holds its config and weights. The folder is checked before any work, so a wrong or
half-copied one fails naming `finetune.base_path` and what was expected there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aiprod.config.base import ConfigError


@dataclass(frozen=True)
class BaseSpec:
    """One base model family and its diffusers classes. The grid a folder requires comes
    from its own VAE and patch configs (`grid_multiples`): the released LTX-Video and LTX-2
    take frames 8k + 1 and sides in multiples of 32, Wan 2.1 frames 4k + 1 and sides in
    multiples of 16."""

    name: str
    pipeline: str
    transformer: str
    vae: str
    components: tuple[str, ...]  # folders `model_index.json` must name and the folder hold
    targets: tuple[str, ...]  # the field's default LoRA targets: attention q/k/v/out


ATTENTION = ("to_q", "to_k", "to_v", "to_out.0")

BASES = {
    "ltx-video": BaseSpec(
        name="ltx-video",
        pipeline="LTXPipeline",
        transformer="LTXVideoTransformer3DModel",
        vae="AutoencoderKLLTXVideo",
        components=("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
        targets=ATTENTION,
    ),
    "wan": BaseSpec(
        name="wan",
        pipeline="WanPipeline",
        transformer="WanTransformer3DModel",
        vae="AutoencoderKLWan",
        components=("transformer", "vae", "text_encoder", "tokenizer", "scheduler"),
        targets=ATTENTION,
    ),
    "ltx-2": BaseSpec(
        name="ltx-2",
        pipeline="LTX2Pipeline",
        transformer="LTX2VideoTransformer3DModel",
        vae="AutoencoderKLLTX2Video",
        components=("transformer", "vae", "text_encoder", "tokenizer", "connectors", "scheduler"),
        targets=ATTENTION,
    ),
}


def base_spec(name: str) -> BaseSpec:
    if name not in BASES:
        raise ConfigError(f"finetune.base: {name!r} is not a diffusers base ({sorted(BASES)})")
    return BASES[name]


def check_base_path(name: str, path: str | Path) -> BaseSpec:
    """The base's spec once `path` holds a diffusers copy of it; else a ConfigError naming
    `finetune.base_path` and what is missing or mismatched."""
    spec = base_spec(name)
    folder = Path(path)
    where = f"finetune.base_path: {folder}"
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ConfigError(
            f"{where} holds no model_index.json: expected a {spec.pipeline} folder in "
            "diffusers layout (save_pretrained or a downloaded snapshot)"
        )
    index = json.loads(index_file.read_text())
    if index.get("_class_name") != spec.pipeline:
        raise ConfigError(
            f"{where} holds a {index.get('_class_name')}, but finetune.base: {name} expects "
            f"a {spec.pipeline}"
        )
    expected = {"transformer": spec.transformer, "vae": spec.vae}
    for component in spec.components:
        entry = index.get(component)
        if not entry or entry[1] is None or not (folder / component).is_dir():
            raise ConfigError(f"{where} lacks its {component} ({spec.pipeline} needs it)")
        wanted = expected.get(component)
        if wanted and entry[1] != wanted:
            raise ConfigError(
                f"{where}: its {component} is a {entry[1]}, {spec.pipeline} needs a {wanted}"
            )
    return spec
