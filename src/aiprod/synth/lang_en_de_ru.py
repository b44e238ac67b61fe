"""English, German and Russian captions: German and Russian decline by gender."""

from __future__ import annotations

from aiprod.synth.grammar import Grammar, gendered, western

EN = Grammar(
    noun_phrase=lambda o: f"a {o.size} {o.colour} {o.shape}",
    sentence=western,
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

DE = Grammar(
    noun_phrase=gendered(
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
    sentence=western,
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

RU = Grammar(
    noun_phrase=gendered(
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
    sentence=western,
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
