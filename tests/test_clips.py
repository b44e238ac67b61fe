import numpy as np
import pytest

from aiprod.ingest.clips import ClipAssembler, FrameGeometry

pytestmark = pytest.mark.quick


def geometry(size=(8, 8)):
    return FrameGeometry.plan(size, size)


def run(times, cuts=(), fps=12.0, min_s=1.0, max_s=2.0, trim=0, delay=3):
    assembler = ClipAssembler(fps, min_s, max_s, trim, delay, geometry().to_target)
    clips = []
    for index, time in enumerate(times):
        image = np.full((8, 8, 3), index % 256, np.uint8)
        assembler.add_cuts([c for c in cuts if c == index - delay])  # reported late
        clips += list(assembler.feed(index, time, image))
    assembler.add_cuts([c for c in cuts if c >= len(times) - delay])
    clips += list(assembler.finish())
    return clips


def test_constant_rate_chunks_of_max_and_a_kept_remainder():
    clips = run([k / 12 for k in range(60)])  # 5 s
    assert [len(c.frames) for c in clips] == [24, 24, 12]
    assert [(c.start_time, c.end_time) for c in clips] == [(0, 2), (2, 4), (4, 5)]


def test_short_remainder_is_dropped():
    clips = run([k / 12 for k in range(30)])  # 2.5 s: 2 s clip + 0.5 s remainder
    assert [len(c.frames) for c in clips] == [24]


def test_cut_splits_scenes_even_when_reported_late():
    clips = run([k / 12 for k in range(60)], cuts=[30])
    assert [(c.start_frame, c.end_frame) for c in clips] == [(0, 24), (30, 54)]
    assert all(not (c.start_frame < 30 < c.end_frame) for c in clips)


def test_trim_drops_frames_either_side_of_a_cut():
    clips = run([k / 12 for k in range(48)], cuts=[24], min_s=1.0, trim=2)
    assert [(c.start_frame, c.end_frame) for c in clips] == [(0, 22), (26, 48)]


def test_resampling_by_timestamp_handles_variable_rate_and_rate_change():
    # 24 fps source with a 0.5 s gap (dropped frames): output stays 12 fps on the clock
    times = [k / 24 for k in range(48)] + [2.5 + k / 24 for k in range(48)]
    clips = run(times, max_s=10.0)
    assert len(clips) == 1
    clip = clips[0]
    assert len(clip.frames) == round(clip.end_time * 12) == 54
    values = [int(f[0, 0, 0]) for f in clip.frames]
    assert values == sorted(values)  # order kept
    assert values[24:30] == [47] * 6  # the gap repeats the last frame shown


def test_geometry_covers_and_centre_crops():
    geo = FrameGeometry.plan((1920, 1080), (128, 128))
    assert geo.cover == (228, 128)
    image = np.zeros((144, 256, 3), np.uint8)
    image[:, 128:] = 255
    out = geo.to_target(image)
    assert out.shape == (128, 128, 3)
    assert out[:, :60].max() == 0 and out[:, 68:].min() == 255
