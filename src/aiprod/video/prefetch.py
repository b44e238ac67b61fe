"""Run an iterator ahead in a thread: decoding overlaps the work done on each frame.

PyAV demuxes, decodes and converts without the GIL, so a decode thread feeding a bounded
queue keeps a core decoding while the consumer detects cuts and scales frames. The queue
bounds memory (`depth` frames); an exception in the producer is raised in the consumer;
a consumer that stops early stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 16) -> Iterator[T]:
    """The items of `items`, produced up to `depth` ahead in a background thread."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as error:  # noqa: BLE001 (handed to the consumer, re-raised there)
            buffer.put((_DONE, error))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue, then join
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)
