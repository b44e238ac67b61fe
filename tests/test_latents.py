"""The encode stage: latent shards of every phase, byte-identical on a re-run, with the frozen
text encoder's output for every caption variant."""

import hashlib
import json

import numpy as np
import pytest
import torch
import webdataset as wds
from conftest import clip_sample
from tiny_models import save_tiny_pipeline

from aiprod.config import RuntimeConfig, parse_config
from aiprod.latents.format import read_window
from aiprod.latents.stage import encode_stage
from aiprod.runtime import resolve
from aiprod.shards.writer import write_shards


@pytest.fixture
def config(tmp_path, params):
    """Pixel shards of 6 clips (3 sources) in phases 1 and 5, and a random tiny VAE."""
    samples = []
    for i in range(6):
        captions = {"en": f"A red square moves to the left {i}.", "de": f"Ein rotes Quadrat {i}."}
        tags = {"keys": ["pan_left"], "terms": {"en": ["pan left"], "de": ["Schwenk nach links"]}}
        flow = np.full((9, 2, 32, 32), 0.5, np.float16)
        path = tmp_path / f"v{i}.mp4"
        samples.append(
            clip_sample(path, f"clip{i}", captions, flow, f"source{i // 2}", frames=36, seed=i,
                        tags=tags)
        )  # fmt: skip
    write_shards(samples, tmp_path / "shards" / "phase1", 4, 10**9)
    write_shards(samples[:2], tmp_path / "shards" / "phase5", 4, 10**9)
    _, vae = save_tiny_pipeline(tmp_path / "vae")
    params["shards"].update(dir=str(tmp_path / "shards"), holdout_share=0.7)  # source2 held out
    params["train_vae"]["out_dir"] = str(tmp_path / "vae")
    (tmp_path / "vae" / "model.pt").write_bytes(vae.read_bytes())
    params["encode"].update(
        dir=str(tmp_path / "latents"), batch_size=3, max_count=2, mirror=False, tagged_captions=True
    )
    return parse_config(params)


def digests(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.tar"))
    }


def test_encode_writes_every_phase_once_and_the_same_bytes_again(config, tmp_path):
    runtime = resolve(RuntimeConfig(device="cpu"))
    metas = encode_stage(config, runtime)
    assert set(metas) == {1, 2, 3, 4, 5}
    phase1 = metas[1]
    assert phase1["latent_shape"] == [8, 3, 8, 8] and phase1["flow_shape"] == [2, 2, 8, 8]
    assert phase1["train_windows"] > 0 and phase1["heldout_windows"] > 0
    assert metas[2]["train_windows"] == 0  # no shards for phase 2: an empty, valid folder
    assert json.loads((tmp_path / "latents" / "phase1" / "meta.json").read_text()) == phase1
    first = digests(tmp_path / "latents")
    urls = sorted(str(p) for p in (tmp_path / "latents" / "phase1" / "train").glob("*.tar"))
    window = read_window(next(iter(wds.WebDataset(urls, shardshuffle=False))))
    assert window.latent.dtype == np.float16 and window.latent.shape == (8, 3, 8, 8)
    # the stored flow (0.5 px a frame, frame step 2) averaged onto the 8 x 8 latent grid
    np.testing.assert_allclose(window.flow.astype(np.float32), 1.0, atol=1e-3)
    variants = [(v["language"], v["tags"]) for v in window.texts]
    assert variants == [("de", False), ("de", True), ("en", False), ("en", True)]
    assert window.text.shape == (4, 512)  # the sentence embedding of each variant
    sentence = torch.nn.functional.cosine_similarity
    plain, tagged = torch.from_numpy(window.text[2:4].astype(np.float32))
    assert 0.5 < float(sentence(plain, tagged, dim=0)) < 0.9999  # tags change the text
    encode_stage(config, runtime)
    assert digests(tmp_path / "latents") == first  # byte-identical on a re-run


def test_mirror_adds_a_flipped_window_after_every_training_window(config, tmp_path):
    """Training windows twice (the mirror with flipped frames, flow and sides), held-out once."""
    runtime = resolve(RuntimeConfig(device="cpu"))
    plain = encode_stage(config, runtime)[1]
    before = windows_of(tmp_path / "latents" / "phase1")
    mirror = config.encode.model_copy(update={"mirror": True})
    meta = encode_stage(config.model_copy(update={"encode": mirror}), runtime)[1]
    assert meta["mirror"] and meta["train_windows"] == 2 * plain["train_windows"]
    assert meta["heldout_windows"] == plain["heldout_windows"]
    after = {key: w for (_, key), w in windows_of(tmp_path / "latents" / "phase1").items()}
    originals = {key: w for (_, key), w in before.items()}
    assert set(originals) < set(after)
    mirrored = [key for key in after if key.endswith("_mirror")]
    assert len(mirrored) == plain["train_windows"]
    for key in mirrored:
        window, original = after[key], originals[key.removesuffix("_mirror")]
        assert window.meta["captions"]["en"].startswith("A red square moves to the right")
        assert window.meta["tags"]["terms"]["de"] == ["Schwenk nach rechts"]
        # the stored flow, 0.5 px right and down a frame, now goes left and down
        np.testing.assert_allclose(window.flow[0].astype(np.float32), -1.0, atol=1e-3)
        np.testing.assert_allclose(window.flow[1].astype(np.float32), 1.0, atol=1e-3)
        assert not np.allclose(window.latent, original.latent)  # flipped frames, encoded
        assert not np.allclose(window.text[2], original.text[2])  # "to the right" embedded


def test_untagged_latents_hold_the_plain_captions_alone(config, tmp_path):
    runtime = resolve(RuntimeConfig(device="cpu"))
    encode_stage(config, runtime)
    tagged = {key: w for (_, key), w in windows_of(tmp_path / "latents" / "phase1").items()}
    plain_only = config.encode.model_copy(update={"tagged_captions": False})
    meta = encode_stage(config.model_copy(update={"encode": plain_only}), runtime)[1]
    assert meta["tagged_captions"] is False
    untagged = {key: w for (_, key), w in windows_of(tmp_path / "latents" / "phase1").items()}
    assert sorted(untagged) == sorted(tagged)
    for key, window in untagged.items():
        assert [(v["language"], v["tags"]) for v in window.texts] == [("de", False), ("en", False)]
        np.testing.assert_array_equal(window.text, tagged[key].text[[0, 2]])
        np.testing.assert_array_equal(window.latent, tagged[key].latent)


def windows_of(folder):
    """Every latent window under a folder, by (file, key)."""
    found = {}
    for path in sorted(folder.rglob("*.tar")):
        for sample in wds.WebDataset(str(path), shardshuffle=False):
            found[(str(path.relative_to(folder)), sample["__key__"])] = read_window(sample)
    return found


@pytest.mark.integration
def test_encode_on_dask_workers_writes_what_one_process_writes(prefect_server, config, tmp_path):
    """The same windows in the same shards; latents equal up to float rounding (a Dask worker
    runs torch on one thread, which sums in another order than two threads do)."""
    from flows.encode import run

    run(config)
    engine = config.engine.model_copy(update={"runner": "dask"})
    latents = config.encode.model_copy(update={"dir": str(tmp_path / "dask_latents")})
    metas = run(config.model_copy(update={"engine": engine, "encode": latents}))
    assert sorted(metas) == ["1", "2", "3", "4", "5"] and metas["1"]["train_windows"] > 0
    local, dask = windows_of(tmp_path / "latents"), windows_of(tmp_path / "dask_latents")
    assert sorted(local) == sorted(dask) and local
    for key, window in local.items():
        other = dask[key]
        np.testing.assert_allclose(window.latent, other.latent, atol=2e-2, rtol=1e-2)
        np.testing.assert_array_equal(window.flow, other.flow)
        np.testing.assert_allclose(window.text, other.text, atol=1e-3)
