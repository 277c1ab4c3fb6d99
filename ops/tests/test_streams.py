"""bookpay-ops topics and lag: rates from two reads of the end offsets, lag per group and
partition (committed or not), and when `lag --max-lag` fails."""

from __future__ import annotations

from aiokafka import TopicPartition
from bookpay_ops.kafka_view import GroupInfo, TopicInfo
from bookpay_ops.streams import (
    group_totals,
    human_duration,
    lag_rows,
    lag_within,
    rate,
    topic_rows,
    topics_by_group_name,
)

PS = "payment-succeeded"
GROUP = "booking-service.payment-succeeded"


def topic(name: str, ends: dict[int, int], starts: dict[int, int] | None = None) -> TopicInfo:
    return TopicInfo(
        name=name,
        partitions=len(ends),
        config={"cleanup.policy": "delete", "retention.ms": "86400000"},
        start_offsets=starts or dict.fromkeys(ends, 0),
        end_offsets=ends,
    )


def test_the_rate_is_the_growth_of_the_end_offsets_per_second() -> None:
    assert rate(100, 130, 2.0) == 15.0
    assert rate(100, 100, 2.0) == 0.0
    # A topic recreated (offsets back to 0) shows no negative rate.
    assert rate(100, 0, 2.0) == 0.0
    assert rate(1, 5, 0) == 0.0


def test_topic_rows_count_written_and_retained_and_the_rate_per_topic() -> None:
    now = [topic(PS, {0: 10, 1: 20}, {0: 4, 1: 0}), topic("charge-requested", {0: 3})]
    rows = topic_rows(now, {PS: 20, "charge-requested": 3}, 5.0)
    by_name = {r.topic: r for r in rows}
    assert by_name[PS].written == 30
    assert by_name[PS].retained == 26
    assert by_name[PS].per_second == 2.0
    assert by_name["charge-requested"].per_second == 0.0
    assert by_name[PS].retention_ms == 86_400_000
    assert topic_rows(now, None, 0)[0].per_second is None


def test_retention_reads_as_a_duration() -> None:
    assert human_duration(None) == "forever"
    assert human_duration(86_400_000) == "1d"
    assert human_duration(7_200_000) == "2h"
    assert human_duration(90_000) == "1.5m"
    assert human_duration(500) == "0.5s"


def test_lag_is_end_minus_committed_and_everything_retained_where_nothing_was_committed() -> None:
    group = GroupInfo(GROUP, "Stable", 1, {TopicPartition(PS, 0): 7})
    ends = {TopicPartition(PS, 0): 10, TopicPartition(PS, 1): 5, TopicPartition("other", 0): 9}
    starts = {TopicPartition(PS, 1): 2}
    rows = lag_rows([group], ends, starts, topics_by_group_name([GROUP], [PS, "other"]))
    assert [(r.partition, r.committed, r.end, r.lag) for r in rows] == [
        (0, 7, 10, 3),
        (1, None, 5, 3),
    ]
    assert group_totals(rows) == {GROUP: ("Stable", 6)}


def test_a_group_is_matched_to_its_topic_by_name_only_when_the_topic_exists() -> None:
    assert topics_by_group_name([GROUP, "console-consumer-1", "x.nowhere"], [PS]) == {GROUP: [PS]}


def test_max_lag_fails_on_a_lagging_or_unstable_group() -> None:
    ends = {TopicPartition(PS, 0): 10}
    caught_up = GroupInfo(GROUP, "Stable", 1, {TopicPartition(PS, 0): 10})
    behind = GroupInfo(GROUP, "Stable", 1, {TopicPartition(PS, 0): 4})
    rebalancing = GroupInfo(GROUP, "PreparingRebalance", 0, {TopicPartition(PS, 0): 10})
    assert lag_within(lag_rows([caught_up], ends, {}, {}), 0)
    assert not lag_within(lag_rows([behind], ends, {}, {}), 5)
    assert lag_within(lag_rows([behind], ends, {}, {}), 6)
    assert not lag_within(lag_rows([rebalancing], ends, {}, {}), 100)
