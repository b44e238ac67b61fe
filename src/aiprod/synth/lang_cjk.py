"""Chinese and Japanese captions: measure words, particles and attributive forms."""

from __future__ import annotations

from aiprod.synth.grammar import Grammar

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
