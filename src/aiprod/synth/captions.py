"""Captions of a shapes-world scene in nine languages, from grammatical templates.

Each language builds its noun phrase with its own rules (gender and agreement in es, fr,
it, pt, de and ru; attributive forms and particles in ja and zh) rather than by swapping
English words, so captions read like a native description. The tables live in the
`lang_*` modules, the machinery in `grammar`.
"""

from __future__ import annotations

from aiprod.synth.grammar import Grammar
from aiprod.synth.lang_cjk import JA, ZH
from aiprod.synth.lang_en_de_ru import DE, EN, RU
from aiprod.synth.lang_romance import ES, FR, IT, PT
from aiprod.synth.world import SceneSpec

LANGUAGES = ("en", "zh", "es", "fr", "ja", "de", "it", "pt", "ru")

GRAMMARS: dict[str, Grammar] = {
    "en": EN,
    "zh": ZH,
    "es": ES,
    "fr": FR,
    "ja": JA,
    "de": DE,
    "it": IT,
    "pt": PT,
    "ru": RU,
}


def caption(scene: SceneSpec, language: str) -> str:
    """Describe a scene in one of the nine caption languages."""
    return describe(scene, GRAMMARS[language])


def describe(scene: SceneSpec, grammar: Grammar) -> str:
    """Describe a scene with a grammar: each object, then background, camera and light."""
    parts = []
    for obj in scene.objects:
        motion = grammar.motions[obj.motion]
        if obj.direction is not None:
            motion = motion.format(d=grammar.directions[obj.direction])
        parts.append(grammar.sentence(grammar.noun_phrase(obj).strip(), motion))
    colour = grammar.background_colours[scene.background_colour]
    parts.append(grammar.backgrounds[scene.background].format(c=colour))
    parts.append(grammar.camera[scene.camera])
    parts.append(grammar.lighting[scene.lighting])
    if scene.occlusion:
        parts.append(grammar.occlusion)
    return grammar.separator.join(part for part in parts if part)


def captions(scene: SceneSpec) -> dict[str, str]:
    """The scene's caption in every supported language."""
    return {language: caption(scene, language) for language in LANGUAGES}
