"""The Kafka ACL table is derived from the contract: each event's topic is written only by its
owner (and ChargeRequested also by internal publishers), read only by its consumers."""

from bookpay_shared import kafka_acls, topics
from bookpay_shared.events import ALL_EVENTS
from bookpay_shared.flows import FLOWS
from bookpay_shared.kafka_acls import ADMIN, INTERNAL_PUBLISHER, grants, may_write


def writers(topic: str) -> set[str]:
    return {g.principal for g in grants() if topic in g.writes}


def test_only_charge_service_writes_payment_outcomes() -> None:
    assert writers(topics.PAYMENT_SUCCEEDED) == {"charge-service"}
    assert writers(topics.PAYMENT_FAILED) == {"charge-service"}
    assert writers(topics.CHARGE_ACCEPTED) == {"charge-service"}


def test_only_booking_service_writes_booking_charged_and_the_entity_states() -> None:
    for topic in (
        topics.BOOKING_CHARGED,
        topics.ACCOUNTS_STATE,
        topics.CUSTOMERS_STATE,
        topics.BOOKINGS_STATE,
    ):
        assert writers(topic) == {"booking-service"}, topic


def test_internal_publishers_may_write_charge_requests_and_nothing_else() -> None:
    [publisher] = [g for g in grants() if g.principal == INTERNAL_PUBLISHER]
    assert publisher.writes == (topics.CHARGE_REQUESTED,)
    assert publisher.reads == publisher.groups == ()
    assert writers(topics.CHARGE_REQUESTED) == {"charge-service", INTERNAL_PUBLISHER}


def test_every_event_topic_is_written_by_its_producers_and_read_by_its_consumers() -> None:
    for event in ALL_EVENTS:
        flow = FLOWS[event]
        expected = set(flow.producers) | set(kafka_acls.EXTRA_PRODUCERS.get(event, ()))
        assert writers(event.TOPIC) == expected, event.__name__
        readers = {g.principal for g in grants() if event.TOPIC in g.reads}
        assert readers == set(flow.consumers), event.__name__


def test_a_consumer_reads_in_its_own_groups_and_writes_the_dead_letters_of_what_it_reads() -> None:
    for g in grants():
        assert g.groups == tuple(f"{g.principal}.{t}" for t in g.reads)
        assert {topics.dlq(t) for t in g.reads} <= set(g.writes)
        assert {t for t in g.writes if t.endswith(topics.DLQ_SUFFIX)} == {
            topics.dlq(t) for t in g.reads
        }


def test_the_super_user_may_write_anything_and_a_service_only_what_it_owns() -> None:
    assert may_write(ADMIN, topics.PAYMENT_SUCCEEDED)
    assert not may_write("notification-service", topics.PAYMENT_SUCCEEDED)
    assert may_write("notification-service", topics.NOTIFICATION_FAILED)
