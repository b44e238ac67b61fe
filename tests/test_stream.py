"""Streamed shards: exact resume, rank and worker splits that equal one process, bounded work."""

import pytest

from aiprod.shards import stream as stream_module
from aiprod.shards.stream import Split, StreamBatches, shard_specs
from aiprod.shards.writer import ShardSink

pytestmark = pytest.mark.quick


@pytest.fixture
def shards(tmp_path):
    """6 shards of 7 samples; sample i gives i % 3 items (0: skipped, as a held-out clip)."""
    sink = ShardSink(tmp_path, max_count=7, max_bytes=10**9)
    for i in range(42):
        sink.add({"__key__": f"s{i:03d}", "txt": str(i).encode()}, {"items": i % 3})
    sink.close()
    return shard_specs(tmp_path, lambda row: row["items"])


def expand(sample):
    i = int(sample["txt"])
    return [(i, k) for k in range(i % 3)]


def batches(shards, split, batch_size, buffer=10, position=0, steps=30):
    source = StreamBatches(shards, split, batch_size, 5, buffer, expand, lambda items: items)
    out = []
    for batch in source.batches(position):
        out.append(batch)
        if len(out) == steps:
            return out
    return out


def values(batch):
    return sorted((item.ordinal, item.value) for item in batch)


def test_every_item_once_per_epoch_in_a_seeded_order(shards):
    one = batches(shards, Split(1), batch_size=6, steps=7)  # 42 items: one epoch
    items = [item.value for batch in one for item in batch]
    assert sorted(items) == sorted(v for i in range(42) for v in expand({"txt": str(i)}))
    assert items != sorted(items)  # shuffled
    assert values(batches(shards, Split(1), 6, steps=7)[3]) == values(one[3])  # reproducible


def test_a_resumed_stream_continues_exactly_where_the_position_says(shards):
    whole = batches(shards, Split(2), batch_size=4, steps=40)  # ~4 epochs, many blocks
    for step in (1, 9, 23):
        resumed = batches(shards, Split(2), 4, position=step * 4, steps=40 - step)
        assert [values(b) for b in resumed] == [values(b) for b in whole[step:]]


def test_two_ranks_read_what_one_process_reads_with_their_batch_combined(shards, monkeypatch):
    single = batches(shards, Split(2), batch_size=6)
    opened = {0: set(), 1: set()}
    real = stream_module.read_samples
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(
            stream_module, "read_samples", lambda url, r=rank: opened[r].add(url) or real(url)
        )
        per_rank.append(batches(shards, Split(2, rank, 2), batch_size=3))
    for k, batch in enumerate(single):
        assert values(batch) == sorted(values(per_rank[0][k]) + values(per_rank[1][k]))
    assert opened[0] and opened[1] and not opened[0] & opened[1]  # each its own shards


def test_dataloader_workers_give_the_same_batches(shards):
    inline = batches(shards, Split(4), batch_size=4, steps=12)
    workers = batches(shards, Split(4, workers=2), batch_size=4, steps=12)
    assert [values(b) for b in workers] == [values(b) for b in inline]


def test_fewer_shards_than_streams_split_by_sample(shards):
    few = shards[:2]  # 14 samples, 14 items
    out = batches(few, Split(4), batch_size=4, steps=14 // 4 * 1)
    seen = [item.value for batch in out for item in batch]
    assert len(seen) == len(set(seen)) == 12  # one epoch's first 12 items, none twice


def test_the_epoch_order_is_drawn_once_per_epoch_and_skipped_blocks_are_not_read(
    shards, monkeypatch
):
    calls = {"order": 0, "reads": 0}
    real_order, real_read = stream_module.Stream.epoch_order, stream_module.read_samples

    def counted_order(self, epoch):
        calls["order"] += 1
        return real_order(self, epoch)

    monkeypatch.setattr(stream_module.Stream, "epoch_order", counted_order)
    monkeypatch.setattr(
        stream_module,
        "read_samples",
        lambda url: calls.__setitem__("reads", calls["reads"] + 1) or real_read(url),
    )
    batches(shards, Split(1), batch_size=6, buffer=100, steps=21)  # 3 epochs, fits the buffer
    assert calls["order"] <= 4  # not once per item (the old bank drew one per sample)
    assert calls["reads"] == 6  # a stream within its buffer is read once, then kept
    calls.update(order=0, reads=0)
    batches(shards, Split(1), batch_size=6, buffer=10, position=6 * 13, steps=1)  # epoch 2
    assert calls["reads"] <= 4  # the block the position falls in and the one read ahead


def test_a_split_that_cannot_divide_the_batch_names_the_keys(shards):
    with pytest.raises(ValueError, match="runtime.data_streams 3 must be a multiple of ranks"):
        StreamBatches(shards, Split(3, 0, 2), 4, 0, 10, expand, list)
    with pytest.raises(ValueError, match="batch_size 3 x 1 rank"):
        StreamBatches(shards, Split(2), 3, 0, 10, expand, list)
