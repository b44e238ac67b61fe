"""What one caption language needs: its noun phrase, sentence order and phrase tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiprod.synth.world import ObjectSpec


@dataclass(frozen=True)
class Grammar:
    """The pieces one language needs; `sentence` joins a subject and a predicate."""

    noun_phrase: Callable[[ObjectSpec], str]
    sentence: Callable[[str, str], str]
    directions: dict[str, str]
    motions: dict[str, str]  # "{d}" is replaced by a direction phrase
    backgrounds: dict[str, str]  # "{c}" is replaced by a background colour
    background_colours: dict[str, str]
    camera: dict[str, str]
    lighting: dict[str, str]
    occlusion: str
    separator: str = " "


def western(subject: str, predicate: str) -> str:
    return f"{subject[0].upper()}{subject[1:]} {predicate}."


def gendered(nouns: dict, colours: dict, sizes: dict, articles: tuple, pattern: str) -> Callable:
    """Noun phrase for languages whose adjectives agree with the noun's gender (m/f/n)."""

    def phrase(obj: ObjectSpec) -> str:
        noun, gender = nouns[obj.shape]
        index = "mfn".index(gender)
        pick = lambda forms: forms[index] if isinstance(forms, tuple) else forms  # noqa: E731
        return pattern.format(
            a=articles[index], n=noun, c=pick(colours[obj.colour]), s=pick(sizes[obj.size])
        )

    return phrase
