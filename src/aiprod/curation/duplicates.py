"""Near-duplicate clips by perceptual hashes (DCT pHash) of key frames."""

from __future__ import annotations

from collections.abc import Iterator

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


def hash_blocks(max_distance: int, bits: int = 64) -> list[tuple[int, int]]:
    """(shift, mask) of max_distance + 1 disjoint blocks covering the hash's bits.

    Two hashes within `max_distance` bits agree exactly on at least one block (pigeonhole),
    so only clips that share a block value need comparing: multi-index hashing.
    """
    count = min(max_distance + 1, bits)
    sizes = [bits // count + (1 if b < bits % count else 0) for b in range(count)]
    shifts = np.cumsum([0, *sizes[:-1]])
    return [(int(shift), (1 << size) - 1) for shift, size in zip(shifts, sizes, strict=True)]


def _pairs_in_groups(key: np.ndarray) -> np.ndarray:
    """Every (i, j), i < j, of rows with equal keys: sorted, a group's rows are adjacent, so
    offset o pairs every row with the one o places on; offsets stop at the largest group."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    found = []
    for offset in range(1, len(order)):
        same = ordered[offset:] == ordered[:-offset]
        if not same.any():
            break
        a, b = order[:-offset][same], order[offset:][same]
        found.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(found) if found else np.zeros((0, 2), dtype=np.int64)


def _block_keys(
    first: np.ndarray, second: np.ndarray, lengths: np.ndarray, blocks: list
) -> Iterator[np.ndarray]:
    """One uint64 key per row for each pair of blocks (first hash's, second hash's), with the
    row's key-frame count; wide blocks (distance 0 or 1) are hashed together instead."""
    lengths = lengths.astype(np.uint64)
    for shift_a, mask_a in blocks:
        part_a = (first >> np.uint64(shift_a)) & np.uint64(mask_a)
        for shift_b, mask_b in blocks:
            part_b = (second >> np.uint64(shift_b)) & np.uint64(mask_b)
            if mask_a < 1 << 30 and mask_b < 1 << 30:
                yield (lengths << np.uint64(60)) | (part_a << np.uint64(30)) | part_b
            else:  # exact equality of wide blocks: a collision only adds a candidate
                mixed = part_a * np.uint64(0x9E3779B97F4A7C15) ^ part_b
                yield mixed * np.uint64(0xBF58476D1CE4E5B9) ^ lengths


def candidate_pairs(table: np.ndarray, lengths: np.ndarray, max_distance: int) -> np.ndarray:
    """(i, j) rows, i < j, that may be within `max_distance` bits on every key frame.

    A pair within the distance agrees exactly on some block of its first key frame's hash and
    on some block of its second's (pigeonhole on each), so grouping rows by every pair of
    blocks finds every such pair; random pairs rarely share two blocks, so the candidates
    stay few and the work per clip stays flat as the corpus grows.
    """
    n = len(table)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    first = table[:, 0]
    second = np.where(lengths >= 2, table[:, min(1, table.shape[1] - 1)], first)
    keys = _block_keys(first, second, lengths, hash_blocks(max_distance))
    packed = np.concatenate([p[:, 0] * n + p[:, 1] for p in map(_pairs_in_groups, keys)])
    packed.sort()
    if packed.size:  # a pair found by several blocks, once
        packed = packed[np.r_[True, packed[1:] != packed[:-1]]]
    return np.stack([packed // n, packed % n], axis=1)


def find_duplicates(ids: list[str], hashes: list[list[int]], max_distance: int) -> dict[str, str]:
    """{clip: earlier clip it duplicates}; every key frame must be within `max_distance` bits.

    Earlier means earlier in the given order (the manifest's), so the first copy is kept, and
    a clip already found a duplicate is never the original of another. Candidate pairs come
    from a multi-index (`candidate_pairs`) and are checked together with numpy popcounts,
    instead of comparing every pair.
    """
    lengths = np.array([len(h) for h in hashes], dtype=np.int64)
    table = np.zeros((len(ids), max(int(lengths.max(initial=0)), 1)), dtype=np.uint64)
    for row, values in enumerate(hashes):
        table[row, : len(values)] = values
    pairs = candidate_pairs(table, lengths, max_distance)
    distance = np.bitwise_count(table[pairs[:, 0]] ^ table[pairs[:, 1]])  # padding is equal
    pairs = pairs[(distance <= max_distance).all(axis=1)]
    duplicate_of: dict[int, int] = {}
    for i, j in pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))].tolist():  # by j, then i
        if j not in duplicate_of and i not in duplicate_of:
            duplicate_of[j] = i
    return {ids[j]: ids[i] for j, i in sorted(duplicate_of.items())}
