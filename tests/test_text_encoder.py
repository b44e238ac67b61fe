"""Text encoders: every video term is one token in every language, in both backends."""

import numpy as np
import pytest
import torch
from tiny_models import save_tiny_bert

from aiprod.nn.text import ByteTextConfig, ByteTextEncoder, ByteTokenizer, HFTextEncoder
from aiprod.synth.captions import LANGUAGES
from aiprod.vocabulary import video_terms

pytestmark = pytest.mark.quick


@pytest.mark.parametrize("language", LANGUAGES)
def test_byte_tokenizer_makes_each_term_one_token(language):
    tokenizer = ByteTokenizer()
    for forms in video_terms().values():
        ids = tokenizer.encode(forms[language])
        assert ids[0] == tokenizer.BOS and ids[-1] == tokenizer.EOS
        assert ids[1:-1] == [tokenizer.term_ids[forms[language]]], forms[language]


def test_terms_inside_sentences_longest_first_whole_words():
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode("A slow pan left over a field")
    assert tokenizer.term_ids["slow pan left"] in ids
    assert tokenizer.term_ids["pan left"] not in ids
    assert not any(i >= 259 for i in tokenizer.encode("a pan lefty"))  # not a whole word
    chinese = tokenizer.encode("镜头缓慢向左摇镜,然后推镜头")
    assert tokenizer.term_ids["缓慢向左摇镜"] in chinese and tokenizer.term_ids["推镜头"] in chinese
    text = "Ünïcödé ✓ русский"
    assert bytes(tokenizer.encode(text)[1:-1]).decode("utf-8") == text


def test_byte_encoder_shapes_and_mask():
    torch.manual_seed(0)
    encoder = ByteTextEncoder(ByteTextConfig(width=32, layers=1, heads=2, max_length=64))
    tokens, mask = encoder(["zoom in", "Камера панорамирует влево, медленно и плавно."])
    assert tokens.shape[:2] == mask.shape and tokens.shape[2] == 32
    assert mask[0].sum() == 3 and mask[1].sum() > 20
    long, long_mask = encoder(["x" * 500])
    assert long.shape[1] == 64 and long_mask.all()


def test_hf_encoder_from_a_local_folder_adds_whole_terms(tmp_path):
    folder = save_tiny_bert(tmp_path / "bert")
    encoder = HFTextEncoder(str(folder), width=24, max_length=32)
    tokenizer = encoder.tokenizer
    for forms in video_terms().values():
        for language, term in forms.items():
            ids = tokenizer(term, add_special_tokens=False)["input_ids"]
            assert len(ids) == 1, (language, term, ids)
    table = encoder.model.get_input_embeddings().weight
    assert table.shape[0] == len(tokenizer)
    pan = tokenizer.convert_tokens_to_ids("pan left")
    old = [tokenizer.convert_tokens_to_ids(p) for p in ("pan", "left")]
    torch.testing.assert_close(table[pan], table[old].mean(dim=0))
    tokens, mask = encoder(["the camera pans left", "ズームイン"])
    assert tokens.shape == (2, mask.shape[1], 24)
    trainable = [name for name, p in encoder.named_parameters() if p.requires_grad]
    assert trainable == ["project.weight", "project.bias"]


def test_sentence_encoder_puts_one_meaning_in_two_languages_close_and_trains():
    import copy

    from aiprod.nn.text import SentenceTextEncoder

    torch.manual_seed(0)
    encoder = SentenceTextEncoder(ByteTextConfig(width=16, layers=1, heads=2, max_length=64))
    red_en, red_fr, blue_en = SentenceTextEncoder.sentence(
        ["A red circle moves left.", "Un cercle rouge se déplace vers la gauche.", "A blue square."]
    )
    cos = torch.nn.functional.cosine_similarity
    assert cos(red_en, red_fr, dim=0) > cos(red_en, blue_en, dim=0)
    tokens, mask = encoder(["A red circle moves left.", "赤い円", "slow pan right, 赤い円"])
    # the sentence token first, then one token per vocabulary term found
    assert tokens.shape == (3, 2, 16) and mask.tolist() == [[True, False]] * 2 + [[True, True]]
    tokens[mask].sum().backward()
    assert encoder.project[0].weight.grad is not None  # the projection trains, USE is frozen
    assert encoder.terms.weight.grad.abs().sum(dim=1).count_nonzero() == 1  # "slow pan right"
    clone = copy.deepcopy(encoder)  # EMA copies the module: cheap, same outputs
    with torch.no_grad():
        assert torch.equal(clone(["A red circle"])[0], encoder(["A red circle"])[0])


def test_a_motion_direction_is_one_concept_in_every_language():
    """The shapes world's captions name each direction with a vocabulary term, and the
    sentence encoder gives the nine forms of a term one shared embedding."""
    from aiprod.evaluate.prompts import eval_prompts
    from aiprod.nn.text import SentenceTextEncoder

    encoder = SentenceTextEncoder(ByteTextConfig(width=8, layers=1, heads=2, max_length=64))
    prompts = eval_prompts(list(LANGUAGES), 8, seed=0)
    ids, mask = encoder.found_terms([p.text for p in prompts])
    concepts = encoder.concept[ids]
    by_direction: dict[str, set[int]] = {}
    for row, prompt in enumerate(prompts):
        found = concepts[row][mask[row]].tolist()
        assert len(found) == 1, prompt.text  # "moves to the left" = "左へ動いている" = ...
        by_direction.setdefault(prompt.direction, set()).update(found)
    assert all(len(c) == 1 for c in by_direction.values())  # one concept per direction
    assert len({c for cs in by_direction.values() for c in cs}) == len(by_direction)


def test_frozen_features_stored_once_give_the_same_tokens_without_running_the_encoder(tmp_path):
    """What `encode` stores (`frozen_features`) stands in for the frozen network in training:
    the same tokens, and a Hugging Face encoder given them never loads its weights."""
    from aiprod.nn.text import SentenceTextEncoder

    texts = ["the camera pans left", "ズームイン"]
    sentence = SentenceTextEncoder(ByteTextConfig(width=16, layers=1, heads=2, max_length=64))
    stored = sentence.frozen_features(texts).numpy().astype(np.float16)  # as encode keeps them
    direct, mask = sentence(texts)
    replayed, replayed_mask = sentence(texts, torch.from_numpy(stored.astype(np.float32)))
    torch.testing.assert_close(replayed, direct, atol=2e-3, rtol=1e-2)
    assert torch.equal(mask, replayed_mask)

    folder = save_tiny_bert(tmp_path / "bert")
    features = HFTextEncoder(str(folder), width=24, max_length=32).frozen_features(texts)
    fresh = HFTextEncoder(str(folder), width=24, max_length=32)
    torch.manual_seed(0)
    fresh.project.reset_parameters()
    tokens, token_mask = fresh(texts, features)
    assert tokens.shape == (2, features[0].shape[1], 24) and torch.equal(token_mask, features[1])
    assert fresh._loaded == []  # the frozen encoder was never loaded
    torch.testing.assert_close(fresh(texts)[0], tokens)


@pytest.mark.parametrize("language", LANGUAGES)
def test_camera_moves_in_captions_are_camera_terms_not_object_directions(language):
    """ "Die Kamera neigt sich nach oben" once gave the object term "nach oben" (moving_up): the
    clips of a tilt up, whose picture moves down, then taught the up token the wrong way."""
    from aiprod.nn.text import term_concepts
    from aiprod.synth.captions import caption
    from aiprod.synth.world import CAMERA_MOTIONS, ObjectSpec, SceneSpec

    tokenizer, concepts = ByteTokenizer(), term_concepts()
    for camera in CAMERA_MOTIONS[1:]:
        still = ObjectSpec("star", "red", "large", "static", None)
        text = caption(
            SceneSpec((still,), "textured", "grey", camera, "steady", False, 1), language
        )
        ids = [i for i in tokenizer.encode(text) if i >= tokenizer.FIRST_TERM]
        found = [concepts[tokenizer.terms[i - tokenizer.FIRST_TERM]] for i in ids]
        assert found == [camera], (text, found)


def test_the_shapes_world_and_its_evaluation_prompts_read_only_their_own_terms():
    """A grown vocabulary must not reach into the demo's captions or the evaluation prompts
    (a new term matching their words would change what the demo model reads)."""
    import numpy as np

    from aiprod.evaluate.prompts import eval_prompts
    from aiprod.nn.text import term_concepts
    from aiprod.synth.captions import captions
    from aiprod.synth.world import sample_scene

    tokenizer, concepts = ByteTokenizer(), term_concepts()
    rng = np.random.default_rng(0)
    texts = [t for k in range(300) for t in captions(sample_scene(rng, 1 + k % 4, k)).values()]
    languages = [*LANGUAGES, "ko", "nl", "tr"]
    texts += [prompt.text for prompt in eval_prompts(languages, 40, 0)]
    read = {
        concepts[tokenizer.terms[i - tokenizer.FIRST_TERM]]
        for text in texts
        for i in tokenizer.encode(text)
        if i >= tokenizer.FIRST_TERM
    }
    directions = {f"moving_{d}" for d in ("left", "right", "up", "down")}
    directions |= {f"moving_{v}_{h}" for v in ("up", "down") for h in ("left", "right")}
    camera = {"pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "close_up"}
    assert read <= directions | camera, read - directions - camera


def test_the_prefix_trie_matches_what_the_terms_listed_longest_first_match():
    import re

    from aiprod.nn.text import CJK

    tokenizer = ByteTokenizer()
    listed = [
        re.escape(t) if CJK.search(t) else rf"(?<!\w){re.escape(t)}(?!\w)"
        for t in tokenizer.terms  # longest first
    ]
    plain = re.compile("|".join(listed))
    forms = [form for forms in video_terms().values() for form in forms.values()]
    texts = ["".join(forms[i : i + 3]) for i in range(0, len(forms), 3)]  # glued together
    texts += [f"{a} {b}, {c}s {a}." for a, b, c in zip(forms, forms[5:], forms[11:], strict=False)]
    texts += ["a pan lefty", "slow pan left over", "FPV drone shots", "35mmレンズで撮影"]
    for text in texts:
        expected = [(m.start(), m.group(0)) for m in plain.finditer(text)]
        assert [(m.start(), m.group(0)) for m in tokenizer.pattern.finditer(text)] == expected
