"""Captions of a shapes-world scene in nine languages, from grammatical templates.

Each language builds its noun phrase with its own rules (gender and agreement in es, fr,
it, pt, de and ru; attributive forms and particles in ja and zh) rather than by swapping
English words, so captions read like a native description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiprod.synth.world import ObjectSpec, SceneSpec

LANGUAGES = ("en", "zh", "es", "fr", "ja", "de", "it", "pt", "ru")


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


def _western(subject: str, predicate: str) -> str:
    return f"{subject[0].upper()}{subject[1:]} {predicate}."


def _gendered(nouns: dict, colours: dict, sizes: dict, articles: tuple, pattern: str) -> Callable:
    """Noun phrase for languages whose adjectives agree with the noun's gender (m/f/n)."""

    def phrase(obj: ObjectSpec) -> str:
        noun, gender = nouns[obj.shape]
        index = "mfn".index(gender)
        pick = lambda forms: forms[index] if isinstance(forms, tuple) else forms  # noqa: E731
        return pattern.format(
            a=articles[index], n=noun, c=pick(colours[obj.colour]), s=pick(sizes[obj.size])
        )

    return phrase


EN = Grammar(
    noun_phrase=lambda o: f"a {o.size} {o.colour} {o.shape}",
    sentence=_western,
    directions={
        "right": "to the right",
        "left": "to the left",
        "up": "upwards",
        "down": "downwards",
        "up_right": "up and to the right",
        "up_left": "up and to the left",
        "down_left": "down and to the left",
        "down_right": "down and to the right",
    },
    motions={
        "static": "stays still",
        "linear": "moves {d}",
        "fast": "moves quickly {d}",
        "circular": "moves in a circle",
        "bouncing": "bounces around the frame",
    },
    backgrounds={
        "plain": "The background is plain {c}.",
        "gradient": "The background is a {c} gradient.",
        "textured": "The background is a {c} texture.",
    },
    background_colours={
        "white": "white",
        "grey": "grey",
        "beige": "beige",
        "sky": "light blue",
        "navy": "navy",
    },
    camera={
        "static": "The camera is static.",
        "pan_left": "The camera pans left.",
        "pan_right": "The camera pans right.",
        "tilt_up": "The camera tilts up.",
        "tilt_down": "The camera tilts down.",
        "zoom_in": "The camera zooms in.",
        "zoom_out": "The camera zooms out.",
    },
    lighting={
        "steady": "",
        "fade_out": "The light slowly fades.",
        "fade_in": "The light slowly brightens.",
        "flicker": "The light flickers.",
    },
    occlusion="A grey pillar in the foreground hides part of the scene.",
)

ZH = Grammar(
    noun_phrase=lambda o: "一个{}的{}{}".format(
        {
            "red": "红色",
            "green": "绿色",
            "blue": "蓝色",
            "yellow": "黄色",
            "orange": "橙色",
            "purple": "紫色",
            "white": "白色",
            "black": "黑色",
        }[o.colour],
        {"small": "小", "large": "大"}[o.size],
        {
            "circle": "圆形",
            "square": "正方形",
            "triangle": "三角形",
            "star": "星形",
            "hexagon": "六边形",
            "diamond": "菱形",
        }[o.shape],
    ),
    sentence=lambda s, p: f"{s}{p}。",
    directions={
        "right": "右",
        "left": "左",
        "up": "上",
        "down": "下",
        "up_right": "右上方",
        "up_left": "左上方",
        "down_left": "左下方",
        "down_right": "右下方",
    },
    motions={
        "static": "静止不动",
        "linear": "向{d}移动",
        "fast": "快速向{d}移动",
        "circular": "做圆周运动",
        "bouncing": "在画面中来回弹跳",
    },
    backgrounds={
        "plain": "背景为纯{c}。",
        "gradient": "背景为{c}渐变。",
        "textured": "背景为带纹理的{c}。",
    },
    background_colours={
        "white": "白色",
        "grey": "灰色",
        "beige": "米色",
        "sky": "浅蓝色",
        "navy": "深蓝色",
    },
    camera={
        "static": "镜头固定不动。",
        "pan_left": "镜头向左平移。",
        "pan_right": "镜头向右平移。",
        "tilt_up": "镜头向上倾斜。",
        "tilt_down": "镜头向下倾斜。",
        "zoom_in": "镜头推近。",
        "zoom_out": "镜头拉远。",
    },
    lighting={
        "steady": "",
        "fade_out": "光线逐渐变暗。",
        "fade_in": "光线逐渐变亮。",
        "flicker": "光线闪烁不定。",
    },
    occlusion="前景中的一根灰色柱子遮挡了部分画面。",
    separator="",
)

ES = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("círculo", "m"),
            "square": ("cuadrado", "m"),
            "triangle": ("triángulo", "m"),
            "star": ("estrella", "f"),
            "hexagon": ("hexágono", "m"),
            "diamond": ("rombo", "m"),
        },
        colours={
            "red": ("rojo", "roja"),
            "green": "verde",
            "blue": "azul",
            "yellow": ("amarillo", "amarilla"),
            "orange": "naranja",
            "purple": ("morado", "morada"),
            "white": ("blanco", "blanca"),
            "black": ("negro", "negra"),
        },
        sizes={"small": ("pequeño", "pequeña"), "large": "grande"},
        articles=("un", "una"),
        pattern="{a} {n} {c} {s}",
    ),
    sentence=_western,
    directions={
        "right": "hacia la derecha",
        "left": "hacia la izquierda",
        "up": "hacia arriba",
        "down": "hacia abajo",
        "up_right": "hacia arriba a la derecha",
        "up_left": "hacia arriba a la izquierda",
        "down_left": "hacia abajo a la izquierda",
        "down_right": "hacia abajo a la derecha",
    },
    motions={
        "static": "permanece inmóvil",
        "linear": "se mueve {d}",
        "fast": "se mueve rápidamente {d}",
        "circular": "se mueve en círculo",
        "bouncing": "rebota por el encuadre",
    },
    backgrounds={
        "plain": "El fondo es liso, de color {c}.",
        "gradient": "El fondo es un degradado de color {c}.",
        "textured": "El fondo tiene una textura de color {c}.",
    },
    background_colours={
        "white": "blanco",
        "grey": "gris",
        "beige": "beige",
        "sky": "celeste",
        "navy": "azul marino",
    },
    camera={
        "static": "La cámara está fija.",
        "pan_left": "La cámara hace un paneo hacia la izquierda.",
        "pan_right": "La cámara hace un paneo hacia la derecha.",
        "tilt_up": "La cámara se inclina hacia arriba.",
        "tilt_down": "La cámara se inclina hacia abajo.",
        "zoom_in": "La cámara se acerca con un zoom.",
        "zoom_out": "La cámara se aleja con un zoom.",
    },
    lighting={
        "steady": "",
        "fade_out": "La luz se atenúa poco a poco.",
        "fade_in": "La luz aumenta poco a poco.",
        "flicker": "La luz parpadea.",
    },
    occlusion="Un pilar gris en primer plano tapa parte de la escena.",
)

FR = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("cercle", "m"),
            "square": ("carré", "m"),
            "triangle": ("triangle", "m"),
            "star": ("étoile", "f"),
            "hexagon": ("hexagone", "m"),
            "diamond": ("losange", "m"),
        },
        colours={
            "red": "rouge",
            "green": ("vert", "verte"),
            "blue": ("bleu", "bleue"),
            "yellow": "jaune",
            "orange": "orange",
            "purple": ("violet", "violette"),
            "white": ("blanc", "blanche"),
            "black": ("noir", "noire"),
        },
        sizes={"small": ("petit", "petite"), "large": ("grand", "grande")},
        articles=("un", "une"),
        pattern="{a} {s} {n} {c}",
    ),
    sentence=_western,
    directions={
        "right": "vers la droite",
        "left": "vers la gauche",
        "up": "vers le haut",
        "down": "vers le bas",
        "up_right": "vers le haut à droite",
        "up_left": "vers le haut à gauche",
        "down_left": "vers le bas à gauche",
        "down_right": "vers le bas à droite",
    },
    motions={
        "static": "reste immobile",
        "linear": "se déplace {d}",
        "fast": "se déplace rapidement {d}",
        "circular": "tourne en cercle",
        "bouncing": "rebondit dans le cadre",
    },
    backgrounds={
        "plain": "Le fond est uni, de couleur {c}.",
        "gradient": "Le fond est un dégradé de {c}.",
        "textured": "Le fond est texturé, de couleur {c}.",
    },
    background_colours={
        "white": "blanc",
        "grey": "gris",
        "beige": "beige",
        "sky": "bleu ciel",
        "navy": "bleu marine",
    },
    camera={
        "static": "La caméra est fixe.",
        "pan_left": "La caméra fait un panoramique vers la gauche.",
        "pan_right": "La caméra fait un panoramique vers la droite.",
        "tilt_up": "La caméra bascule vers le haut.",
        "tilt_down": "La caméra bascule vers le bas.",
        "zoom_in": "La caméra zoome en avant.",
        "zoom_out": "La caméra zoome en arrière.",
    },
    lighting={
        "steady": "",
        "fade_out": "La lumière baisse peu à peu.",
        "fade_in": "La lumière augmente peu à peu.",
        "flicker": "La lumière vacille.",
    },
    occlusion="Un pilier gris au premier plan masque une partie de la scène.",
)

JA = Grammar(
    noun_phrase=lambda o: "{}{}{}".format(
        {"small": "小さな", "large": "大きな"}[o.size],
        {
            "red": "赤い",
            "green": "緑の",
            "blue": "青い",
            "yellow": "黄色い",
            "orange": "オレンジ色の",
            "purple": "紫の",
            "white": "白い",
            "black": "黒い",
        }[o.colour],
        {
            "circle": "円",
            "square": "正方形",
            "triangle": "三角形",
            "star": "星",
            "hexagon": "六角形",
            "diamond": "ひし形",
        }[o.shape],
    ),
    sentence=lambda s, p: f"{s}が{p}。",
    directions={
        "right": "右",
        "left": "左",
        "up": "上",
        "down": "下",
        "up_right": "右上",
        "up_left": "左上",
        "down_left": "左下",
        "down_right": "右下",
    },
    motions={
        "static": "じっと止まっている",
        "linear": "{d}へ動いている",
        "fast": "素早く{d}へ動いている",
        "circular": "円を描いて動いている",
        "bouncing": "画面の中を跳ね回っている",
    },
    backgrounds={
        "plain": "背景は{c}の無地。",
        "gradient": "背景は{c}のグラデーション。",
        "textured": "背景は{c}の模様。",
    },
    background_colours={
        "white": "白",
        "grey": "灰色",
        "beige": "ベージュ",
        "sky": "水色",
        "navy": "紺色",
    },
    camera={
        "static": "カメラは固定されている。",
        "pan_left": "カメラは左にパンする。",
        "pan_right": "カメラは右にパンする。",
        "tilt_up": "カメラは上にチルトする。",
        "tilt_down": "カメラは下にチルトする。",
        "zoom_in": "カメラはズームインする。",
        "zoom_out": "カメラはズームアウトする。",
    },
    lighting={
        "steady": "",
        "fade_out": "光が徐々に暗くなる。",
        "fade_in": "光が徐々に明るくなる。",
        "flicker": "光がちらつく。",
    },
    occlusion="手前の灰色の柱が場面の一部を隠している。",
    separator="",
)

DE = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("Kreis", "m"),
            "square": ("Quadrat", "n"),
            "triangle": ("Dreieck", "n"),
            "star": ("Stern", "m"),
            "hexagon": ("Sechseck", "n"),
            "diamond": ("Raute", "f"),
        },
        # mixed declension after ein/eine, nominative: -er (m), -e (f), -es (n)
        colours={
            c: (f"{stem}er", f"{stem}e", f"{stem}es")
            for c, stem in {
                "red": "rot",
                "green": "grün",
                "blue": "blau",
                "yellow": "gelb",
                "orange": "orangefarben",
                "purple": "violett",
                "white": "weiß",
                "black": "schwarz",
            }.items()
        },
        sizes={"small": ("kleiner", "kleine", "kleines"), "large": ("großer", "große", "großes")},
        articles=("ein", "eine", "ein"),
        pattern="{a} {s} {c} {n}",
    ),
    sentence=_western,
    directions={
        "right": "nach rechts",
        "left": "nach links",
        "up": "nach oben",
        "down": "nach unten",
        "up_right": "nach rechts oben",
        "up_left": "nach links oben",
        "down_left": "nach links unten",
        "down_right": "nach rechts unten",
    },
    motions={
        "static": "steht still",
        "linear": "bewegt sich {d}",
        "fast": "bewegt sich schnell {d}",
        "circular": "bewegt sich im Kreis",
        "bouncing": "springt im Bild hin und her",
    },
    backgrounds={
        "plain": "Der Hintergrund ist einfarbig in {c}.",
        "gradient": "Der Hintergrund ist ein Farbverlauf in {c}.",
        "textured": "Der Hintergrund ist strukturiert, in {c}.",
    },
    background_colours={
        "white": "Weiß",
        "grey": "Grau",
        "beige": "Beige",
        "sky": "Hellblau",
        "navy": "Dunkelblau",
    },
    camera={
        "static": "Die Kamera steht still.",
        "pan_left": "Die Kamera schwenkt nach links.",
        "pan_right": "Die Kamera schwenkt nach rechts.",
        "tilt_up": "Die Kamera neigt sich nach oben.",
        "tilt_down": "Die Kamera neigt sich nach unten.",
        "zoom_in": "Die Kamera zoomt heran.",
        "zoom_out": "Die Kamera zoomt heraus.",
    },
    lighting={
        "steady": "",
        "fade_out": "Das Licht wird allmählich schwächer.",
        "fade_in": "Das Licht wird allmählich heller.",
        "flicker": "Das Licht flackert.",
    },
    occlusion="Eine graue Säule im Vordergrund verdeckt einen Teil der Szene.",
)

IT = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("cerchio", "m"),
            "square": ("quadrato", "m"),
            "triangle": ("triangolo", "m"),
            "star": ("stella", "f"),
            "hexagon": ("esagono", "m"),
            "diamond": ("rombo", "m"),
        },
        colours={
            "red": ("rosso", "rossa"),
            "green": "verde",
            "blue": "blu",
            "yellow": ("giallo", "gialla"),
            "orange": "arancione",
            "purple": "viola",
            "white": ("bianco", "bianca"),
            "black": ("nero", "nera"),
        },
        sizes={"small": ("piccolo", "piccola"), "large": "grande"},
        articles=("un", "una"),
        pattern="{a} {s} {n} {c}",
    ),
    sentence=_western,
    directions={
        "right": "verso destra",
        "left": "verso sinistra",
        "up": "verso l'alto",
        "down": "verso il basso",
        "up_right": "verso l'alto a destra",
        "up_left": "verso l'alto a sinistra",
        "down_left": "verso il basso a sinistra",
        "down_right": "verso il basso a destra",
    },
    motions={
        "static": "resta immobile",
        "linear": "si muove {d}",
        "fast": "si muove velocemente {d}",
        "circular": "si muove in cerchio",
        "bouncing": "rimbalza nell'inquadratura",
    },
    backgrounds={
        "plain": "Lo sfondo è uniforme, di colore {c}.",
        "gradient": "Lo sfondo è una sfumatura di colore {c}.",
        "textured": "Lo sfondo è testurizzato, di colore {c}.",
    },
    background_colours={
        "white": "bianco",
        "grey": "grigio",
        "beige": "beige",
        "sky": "azzurro",
        "navy": "blu scuro",
    },
    camera={
        "static": "La telecamera è ferma.",
        "pan_left": "La telecamera fa una panoramica verso sinistra.",
        "pan_right": "La telecamera fa una panoramica verso destra.",
        "tilt_up": "La telecamera si inclina verso l'alto.",
        "tilt_down": "La telecamera si inclina verso il basso.",
        "zoom_in": "La telecamera esegue uno zoom in avanti.",
        "zoom_out": "La telecamera esegue uno zoom all'indietro.",
    },
    lighting={
        "steady": "",
        "fade_out": "La luce si affievolisce gradualmente.",
        "fade_in": "La luce aumenta gradualmente.",
        "flicker": "La luce tremola.",
    },
    occlusion="Un pilastro grigio in primo piano copre parte della scena.",
)

PT = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("círculo", "m"),
            "square": ("quadrado", "m"),
            "triangle": ("triângulo", "m"),
            "star": ("estrela", "f"),
            "hexagon": ("hexágono", "m"),
            "diamond": ("losango", "m"),
        },
        colours={
            "red": ("vermelho", "vermelha"),
            "green": "verde",
            "blue": "azul",
            "yellow": ("amarelo", "amarela"),
            "orange": "laranja",
            "purple": ("roxo", "roxa"),
            "white": ("branco", "branca"),
            "black": ("preto", "preta"),
        },
        sizes={"small": ("pequeno", "pequena"), "large": "grande"},
        articles=("um", "uma"),
        pattern="{a} {s} {n} {c}",
    ),
    sentence=_western,
    directions={
        "right": "para a direita",
        "left": "para a esquerda",
        "up": "para cima",
        "down": "para baixo",
        "up_right": "para cima e para a direita",
        "up_left": "para cima e para a esquerda",
        "down_left": "para baixo e para a esquerda",
        "down_right": "para baixo e para a direita",
    },
    motions={
        "static": "permanece imóvel",
        "linear": "move-se {d}",
        "fast": "move-se rapidamente {d}",
        "circular": "move-se em círculo",
        "bouncing": "quica pelo quadro",
    },
    backgrounds={
        "plain": "O fundo é liso, de cor {c}.",
        "gradient": "O fundo é um degradê de cor {c}.",
        "textured": "O fundo tem textura, de cor {c}.",
    },
    # "cor" is feminine, so the colour agrees with it
    background_colours={
        "white": "branca",
        "grey": "cinza",
        "beige": "bege",
        "sky": "azul-clara",
        "navy": "azul-marinho",
    },
    camera={
        "static": "A câmera está parada.",
        "pan_left": "A câmera faz uma panorâmica para a esquerda.",
        "pan_right": "A câmera faz uma panorâmica para a direita.",
        "tilt_up": "A câmera inclina-se para cima.",
        "tilt_down": "A câmera inclina-se para baixo.",
        "zoom_in": "A câmera aproxima-se com zoom.",
        "zoom_out": "A câmera afasta-se com zoom.",
    },
    lighting={
        "steady": "",
        "fade_out": "A luz diminui aos poucos.",
        "fade_in": "A luz aumenta aos poucos.",
        "flicker": "A luz pisca.",
    },
    occlusion="Um pilar cinza em primeiro plano cobre parte da cena.",
)

RU = Grammar(
    noun_phrase=_gendered(
        nouns={
            "circle": ("круг", "m"),
            "square": ("квадрат", "m"),
            "triangle": ("треугольник", "m"),
            "star": ("звезда", "f"),
            "hexagon": ("шестиугольник", "m"),
            "diamond": ("ромб", "m"),
        },
        colours={
            "red": ("красный", "красная"),
            "green": ("зелёный", "зелёная"),
            "blue": ("синий", "синяя"),
            "yellow": ("жёлтый", "жёлтая"),
            "orange": ("оранжевый", "оранжевая"),
            "purple": ("фиолетовый", "фиолетовая"),
            "white": ("белый", "белая"),
            "black": ("чёрный", "чёрная"),
        },
        sizes={"small": ("маленький", "маленькая"), "large": ("большой", "большая")},
        articles=("", ""),
        pattern="{s} {c} {n}",
    ),
    sentence=_western,
    directions={
        "right": "вправо",
        "left": "влево",
        "up": "вверх",
        "down": "вниз",
        "up_right": "вверх и вправо",
        "up_left": "вверх и влево",
        "down_left": "вниз и влево",
        "down_right": "вниз и вправо",
    },
    motions={
        "static": "стоит на месте",
        "linear": "движется {d}",
        "fast": "быстро движется {d}",
        "circular": "движется по кругу",
        "bouncing": "отскакивает от краёв кадра",
    },
    # genitive: "фон ... белого цвета"
    backgrounds={
        "plain": "Фон однотонный, {c} цвета.",
        "gradient": "Фон — градиент {c} цвета.",
        "textured": "Фон текстурный, {c} цвета.",
    },
    background_colours={
        "white": "белого",
        "grey": "серого",
        "beige": "бежевого",
        "sky": "голубого",
        "navy": "тёмно-синего",
    },
    camera={
        "static": "Камера неподвижна.",
        "pan_left": "Камера панорамирует влево.",
        "pan_right": "Камера панорамирует вправо.",
        "tilt_up": "Камера наклоняется вверх.",
        "tilt_down": "Камера наклоняется вниз.",
        "zoom_in": "Камера приближает изображение.",
        "zoom_out": "Камера отдаляет изображение.",
    },
    lighting={
        "steady": "",
        "fade_out": "Свет постепенно гаснет.",
        "fade_in": "Свет постепенно становится ярче.",
        "flicker": "Свет мерцает.",
    },
    occlusion="Серая колонна на переднем плане закрывает часть сцены.",
)

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
    """Describe a scene in one language: each object, then background, camera and light."""
    grammar = GRAMMARS[language]
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
