"""The commit point of a partition: never past an offset that is not finished."""

from bookpay_shared.ordered import PartitionOffsets


def test_nothing_fetched_means_nothing_to_commit() -> None:
    assert PartitionOffsets().commit_point() is None


def test_the_commit_point_waits_for_the_lowest_unfinished_offset() -> None:
    offsets = PartitionOffsets()
    for offset in (10, 11, 12, 13):
        offsets.fetched(offset)
    offsets.finished(12)
    offsets.finished(11)
    assert offsets.commit_point() == 10
    assert offsets.pending == 2
    offsets.finished(10)
    assert offsets.commit_point() == 13
    offsets.finished(13)
    assert offsets.commit_point() == 14
    assert offsets.pending == 0


def test_gaps_in_offsets_such_as_compacted_ones_are_skipped_over() -> None:
    offsets = PartitionOffsets()
    for offset in (3, 7, 20):
        offsets.fetched(offset)
    offsets.finished(3)
    assert offsets.commit_point() == 7
    offsets.finished(20)
    offsets.finished(7)
    assert offsets.commit_point() == 21
