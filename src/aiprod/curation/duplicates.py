"""Near-duplicate clips by perceptual hashes (DCT pHash) of key frames."""

from __future__ import annotations

import cv2
import numpy as np

HASH_SIDE = 8  # 8 x 8 low frequencies = a 64-bit hash


def phash(gray: np.ndarray) -> int:
    """64-bit perceptual hash: signs of the low DCT frequencies against their median."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:HASH_SIDE, :HASH_SIDE].ravel()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def key_frame_hashes(grays: np.ndarray) -> list[int]:
    """Hashes of the first, middle and last frames."""
    picks = sorted({0, len(grays) // 2, len(grays) - 1})
    return [phash(grays[i]) for i in picks]


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def find_duplicates(ids: list[str], hashes: list[list[int]], max_distance: int) -> dict[str, str]:
    """{clip: earlier clip it duplicates}; every key frame must be within `max_distance` bits.

    Earlier means earlier in the given order (the manifest's), so the first copy is kept.
    """
    found: dict[str, str] = {}
    for j in range(len(ids)):
        for i in range(j):
            if ids[i] in found or len(hashes[i]) != len(hashes[j]):
                continue
            if all(
                hamming(a, b) <= max_distance for a, b in zip(hashes[i], hashes[j], strict=True)
            ):
                found[ids[j]] = ids[i]
                break
    return found
