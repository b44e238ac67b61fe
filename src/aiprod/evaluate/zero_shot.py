"""Evaluation-only prompt grammars in languages no caption uses: Korean, Dutch and Turkish.

The model never sees them in training (the shapes world captions in nine other languages);
what it does with them is what the multilingual sentence encoder carries across languages.
Each is written with its own rules: Korean's subject particle follows the noun's last
syllable, Dutch adjectives agree with de/het nouns after "een", Turkish puts "bir" after
the adjectives and builds directions with "doğru".
"""

from __future__ import annotations

from aiprod.synth.grammar import Grammar, gendered, western
from aiprod.synth.world import ObjectSpec

KO_SHAPES = {
    "circle": "원",
    "square": "정사각형",
    "triangle": "삼각형",
    "star": "별",
    "hexagon": "육각형",
    "diamond": "마름모",
}
KO_COLOURS = {
    "red": "빨간",
    "green": "초록색",
    "blue": "파란",
    "yellow": "노란",
    "orange": "주황색",
    "purple": "보라색",
    "white": "하얀",
    "black": "검은",
}


def subject_particle(word: str) -> str:
    """이 after a final consonant (batchim), 가 after a vowel: Hangul syllable arithmetic."""
    code = ord(word[-1]) - 0xAC00
    return "이" if 0 <= code < 11172 and code % 28 else "가"


def _korean_noun(obj: ObjectSpec) -> str:
    size = {"small": "작은", "large": "큰"}[obj.size]
    return f"{size} {KO_COLOURS[obj.colour]} {KO_SHAPES[obj.shape]}"


KO = Grammar(
    noun_phrase=_korean_noun,
    sentence=lambda s, p: f"{s}{subject_particle(s)} {p}.",
    directions={
        "right": "오른쪽으로",
        "left": "왼쪽으로",
        "up": "위로",
        "down": "아래로",
        "up_right": "오른쪽 위로",
        "up_left": "왼쪽 위로",
        "down_left": "왼쪽 아래로",
        "down_right": "오른쪽 아래로",
    },
    motions={
        "static": "제자리에 가만히 있다",
        "linear": "{d} 움직인다",
        "fast": "{d} 빠르게 움직인다",
        "circular": "원을 그리며 움직인다",
        "bouncing": "화면 안을 튀어 다닌다",
    },
    backgrounds={
        "plain": "배경은 단색 {c}이다.",
        "gradient": "배경은 {c} 그러데이션이다.",
        "textured": "배경은 질감이 있는 {c}이다.",
    },
    background_colours={
        "white": "흰색",
        "grey": "회색",
        "beige": "베이지색",
        "sky": "하늘색",
        "navy": "남색",
    },
    camera={
        "static": "카메라는 고정되어 있다.",
        "pan_left": "카메라가 왼쪽으로 패닝한다.",
        "pan_right": "카메라가 오른쪽으로 패닝한다.",
        "tilt_up": "카메라가 위로 틸트한다.",
        "tilt_down": "카메라가 아래로 틸트한다.",
        "zoom_in": "카메라가 줌인한다.",
        "zoom_out": "카메라가 줌아웃한다.",
    },
    lighting={
        "steady": "",
        "fade_out": "빛이 서서히 어두워진다.",
        "fade_in": "빛이 서서히 밝아진다.",
        "flicker": "빛이 깜박인다.",
    },
    occlusion="전경의 회색 기둥이 장면의 일부를 가린다.",
)

# Dutch: after "een", an adjective takes -e before a de-word and stays bare before a
# het-word ("een kleine rode cirkel", "een klein rood vierkant"); de-words stand as "m".
NL = Grammar(
    noun_phrase=gendered(
        nouns={
            "circle": ("cirkel", "m"),
            "square": ("vierkant", "n"),
            "triangle": ("driehoek", "m"),
            "star": ("ster", "m"),
            "hexagon": ("zeshoek", "m"),
            "diamond": ("ruit", "m"),
        },
        colours={
            c: (de, de, het)
            for c, (de, het) in {
                "red": ("rode", "rood"),
                "green": ("groene", "groen"),
                "blue": ("blauwe", "blauw"),
                "yellow": ("gele", "geel"),
                "orange": ("oranje", "oranje"),
                "purple": ("paarse", "paars"),
                "white": ("witte", "wit"),
                "black": ("zwarte", "zwart"),
            }.items()
        },
        sizes={"small": ("kleine", "kleine", "klein"), "large": ("grote", "grote", "groot")},
        articles=("een", "een", "een"),
        pattern="{a} {s} {c} {n}",
    ),
    sentence=western,
    directions={
        "right": "naar rechts",
        "left": "naar links",
        "up": "omhoog",
        "down": "omlaag",
        "up_right": "schuin naar rechtsboven",
        "up_left": "schuin naar linksboven",
        "down_left": "schuin naar linksonder",
        "down_right": "schuin naar rechtsonder",
    },
    motions={
        "static": "staat stil",
        "linear": "beweegt {d}",
        "fast": "beweegt snel {d}",
        "circular": "draait rondjes",
        "bouncing": "stuitert door het beeld",
    },
    backgrounds={
        "plain": "De achtergrond is effen {c}.",
        "gradient": "De achtergrond is een kleurverloop in {c}.",
        "textured": "De achtergrond heeft een {c} textuur.",
    },
    background_colours={
        "white": "wit",
        "grey": "grijs",
        "beige": "beige",
        "sky": "lichtblauw",
        "navy": "marineblauw",
    },
    camera={
        "static": "De camera staat stil.",
        "pan_left": "De camera pant naar links.",
        "pan_right": "De camera pant naar rechts.",
        "tilt_up": "De camera kantelt omhoog.",
        "tilt_down": "De camera kantelt omlaag.",
        "zoom_in": "De camera zoomt in.",
        "zoom_out": "De camera zoomt uit.",
    },
    lighting={
        "steady": "",
        "fade_out": "Het licht dooft langzaam.",
        "fade_in": "Het licht wordt langzaam feller.",
        "flicker": "Het licht flikkert.",
    },
    occlusion="Een grijze zuil op de voorgrond verbergt een deel van de scène.",
)

TR_SHAPES = {
    "circle": "daire",
    "square": "kare",
    "triangle": "üçgen",
    "star": "yıldız",
    "hexagon": "altıgen",
    "diamond": "eşkenar dörtgen",
}
TR_COLOURS = {
    "red": "kırmızı",
    "green": "yeşil",
    "blue": "mavi",
    "yellow": "sarı",
    "orange": "turuncu",
    "purple": "mor",
    "white": "beyaz",
    "black": "siyah",
}

TR = Grammar(
    noun_phrase=lambda o: "{} {} bir {}".format(
        {"small": "küçük", "large": "büyük"}[o.size], TR_COLOURS[o.colour], TR_SHAPES[o.shape]
    ),
    sentence=western,
    directions={
        "right": "sağa doğru",
        "left": "sola doğru",
        "up": "yukarı doğru",
        "down": "aşağı doğru",
        "up_right": "sağ üste doğru",
        "up_left": "sol üste doğru",
        "down_left": "sol alta doğru",
        "down_right": "sağ alta doğru",
    },
    motions={
        "static": "yerinde duruyor",
        "linear": "{d} hareket ediyor",
        "fast": "{d} hızla hareket ediyor",
        "circular": "daire çizerek dönüyor",
        "bouncing": "kadrajın içinde sekip duruyor",
    },
    backgrounds={
        "plain": "Arka plan düz {c}.",
        "gradient": "Arka plan {c} bir renk geçişi.",
        "textured": "Arka plan dokulu ve {c}.",
    },
    background_colours={
        "white": "beyaz",
        "grey": "gri",
        "beige": "bej",
        "sky": "açık mavi",
        "navy": "lacivert",
    },
    camera={
        "static": "Kamera sabit duruyor.",
        "pan_left": "Kamera sola doğru pan yapıyor.",
        "pan_right": "Kamera sağa doğru pan yapıyor.",
        "tilt_up": "Kamera yukarı doğru tilt yapıyor.",
        "tilt_down": "Kamera aşağı doğru tilt yapıyor.",
        "zoom_in": "Kamera yakınlaşıyor.",
        "zoom_out": "Kamera uzaklaşıyor.",
    },
    lighting={
        "steady": "",
        "fade_out": "Işık yavaş yavaş sönüyor.",
        "fade_in": "Işık yavaş yavaş parlaklaşıyor.",
        "flicker": "Işık titriyor.",
    },
    occlusion="Ön plandaki gri bir sütun sahnenin bir kısmını gizliyor.",
)

ZERO_SHOT: dict[str, Grammar] = {"ko": KO, "nl": NL, "tr": TR}
