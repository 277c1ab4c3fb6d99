"""bookpay-ops tail: which topics a name means, which records a filter keeps, and which of a
topic's records are its newest — and a clear refusal of what it cannot read."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from aiokafka import TopicPartition
from bookpay_ops.cli import app
from bookpay_ops.decoding import FLOW_TOPICS, Decoded, decode
from bookpay_ops.tail import Filters, newest_per_topic, newest_starts, resolve_topics
from typer.testing import CliRunner

from .records import (
    ACCOUNT,
    CHARGE,
    CUSTOMER,
    T0,
    booking_charged,
    of,
    record,
    requested,
    succeeded,
)

OTHER = uuid.UUID(int=42)


@pytest.mark.parametrize("names", [[], ["all"], ["payment-failed", "all"]])
def test_no_topic_or_all_means_every_event_topic(names: list[str]) -> None:
    assert resolve_topics(names) == list(FLOW_TOPICS)


def test_topics_are_read_once_each_in_the_order_given() -> None:
    assert resolve_topics(["payment-failed", "charge-requested.dlq", "payment-failed"]) == [
        "payment-failed",
        "charge-requested.dlq",
    ]


def test_a_topic_the_contract_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="no such topic: payments-done"):
        resolve_topics(["payment-succeeded", "payments-done"])


SUCCEEDED = decode(of(succeeded()))
ANOTHERS = decode(of(requested(charge_id=OTHER, correlation_id=OTHER, account_id=OTHER)))
BROKEN = decode(record("payment-succeeded", b"{", headers={"correlation_id": str(CHARGE)}))


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        (Filters(), [SUCCEEDED, ANOTHERS, BROKEN]),
        (Filters(charge_id=CHARGE), [SUCCEEDED, BROKEN]),
        (Filters(charge_id=OTHER), [ANOTHERS]),
        (Filters(account_id=ACCOUNT), [SUCCEEDED]),
        (Filters(account_id=OTHER), [ANOTHERS]),
        (Filters(customer_id=CUSTOMER), [SUCCEEDED, ANOTHERS]),
        (Filters(event_type="ChargeRequested"), [ANOTHERS]),
        (Filters(charge_id=CHARGE, event_type="PaymentSucceeded"), [SUCCEEDED]),
        (Filters(charge_id=OTHER, event_type="PaymentSucceeded"), []),
    ],
)
def test_filters_keep_the_records_about_what_they_name(
    filters: Filters, kept: list[Decoded]
) -> None:
    assert [d for d in (SUCCEEDED, ANOTHERS, BROKEN) if filters.matches(d)] == kept


def test_a_charge_is_matched_by_its_correlation_id_too() -> None:
    charged = decode(of(booking_charged()))

    assert Filters(charge_id=CHARGE).matches(charged)


def test_the_newest_records_of_a_partition_start_at_most_n_before_its_end() -> None:
    p0, p1, p2 = (TopicPartition("payment-succeeded", p) for p in range(3))

    starts = newest_starts({p0: 0, p1: 95, p2: 0}, {p0: 50, p1: 100, p2: 0}, 20)

    assert starts == {p0: 30, p1: 95, p2: 0}


def test_the_newest_n_of_each_topic_are_kept_in_time_order() -> None:
    def at(topic: str, second: int, partition: int = 0) -> Decoded:
        moment = T0 + timedelta(seconds=second)
        return decode(record(topic, b"{}", offset=second, partition=partition, at=moment))

    read = [
        at("payment-succeeded", 1, partition=1),
        at("payment-succeeded", 5),
        at("payment-succeeded", 3, partition=2),
        at("charge-requested", 2),
        at("charge-requested", 4),
        at("charge-requested", 0),
    ]

    kept = newest_per_topic(read, 2)

    assert [(d.topic, d.offset) for d in kept] == [
        ("charge-requested", 2),
        ("payment-succeeded", 3),
        ("charge-requested", 4),
        ("payment-succeeded", 5),
    ]
    assert newest_per_topic(read, 0) == []


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["payments-done"], "no such topic: payments-done"),
        (["--type", "ChargeRefunded"], "unknown event type 'ChargeRefunded'"),
        (["--charge", "c-42"], "'c-42' is not an id"),
        (["--account", "nope"], "'nope' is not an id"),
        (["--last", "-1"], "--last"),
    ],
)
def test_the_command_refuses_what_it_cannot_read(arguments: list[str], complaint: str) -> None:
    result = CliRunner().invoke(app, ["tail", *arguments])

    assert result.exit_code == 2
    assert complaint in " ".join(result.output.replace("│", " ").split())


def test_an_unreachable_kafka_is_one_line_and_exit_code_1() -> None:
    result = CliRunner().invoke(
        app, ["--bootstrap-server", "127.0.0.1:9", "--security-protocol", "PLAINTEXT", "tail"]
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("bookpay-ops: cannot reach Kafka at 127.0.0.1:9")
