"""The decode-ahead thread: same items in order, errors surface, an early stop ends it."""

import threading

import pytest

from aiprod.video.prefetch import prefetched


def test_prefetched_yields_every_item_in_order():
    assert list(prefetched(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_in_the_producer_is_raised_in_the_consumer():
    def items():
        yield 1
        raise ValueError("corrupt packet")

    stream = prefetched(items())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="corrupt packet"):
        next(stream)


def test_stopping_early_ends_the_producer_thread():
    before = threading.active_count()
    stream = prefetched(iter(range(10**6)), depth=2)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before
