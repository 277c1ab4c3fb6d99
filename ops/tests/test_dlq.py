"""bookpay-ops dlq without Kafka: dead letter ids, choosing dead letters, never replaying one
twice by accident, what a replayed message carries, and what the commands print."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bookpay_ops import dlq_render as render
from bookpay_ops.cli import app
from bookpay_ops.dead_letters import (
    BadDeadLetterId,
    BadReplacement,
    DeadLetter,
    DeadLetterId,
    Replay,
    plan,
    replacement_value,
    replay_headers,
    replays_by_dead_letter,
    select,
)
from typer.testing import CliRunner

AT = datetime(2027, 5, 1, 9, 30, tzinfo=UTC)
EVENT = {"event_id": "6f1d0c7e-0000-4000-8000-000000000001", "event_type": "ChargeRequested"}
CHARGE_SERVICE = "charge-service.charge-requested"
LINK_SERVICE = "link-service.charge-requested"


def letter(
    offset: int,
    *,
    consumer: str = CHARGE_SERVICE,
    reason: str = "amount: Input should be greater than 0",
    original_offset: int | None = None,
    value: bytes = json.dumps(EVENT).encode(),
    partition: int = 1,
) -> DeadLetter:
    return DeadLetter(
        id=DeadLetterId("charge-requested.dlq", partition, offset),
        key=b"customer-1",
        value=value,
        headers=(
            ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("dlq.reason", reason.encode()),
            ("dlq.consumer", consumer.encode()),
            ("dlq.original_topic", b"charge-requested"),
            ("dlq.original_partition", b"4"),
            (
                "dlq.original_offset",
                str(100 + offset if original_offset is None else original_offset).encode(),
            ),
            ("dlq.failed_at", b"2027-05-01T09:29:58.123456+00:00"),
        ),
        timestamp_ms=0,
    )


def replay_of(d: DeadLetter, by: str = "dana@ops", offset: int = 7) -> Replay:
    return Replay(d.id, "charge-requested", 4, offset, by, AT, value_replaced=False)


# --- ids ------------------------------------------------------------------------------------


def test_an_id_names_the_dead_letter_topic_partition_and_offset() -> None:
    parsed = DeadLetterId.parse("charge-requested.dlq:1:0")

    assert parsed == DeadLetterId("charge-requested.dlq", 1, 0)
    assert str(parsed) == "charge-requested.dlq:1:0"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "charge-requested:1:0",
        ".dlq:1:0",
        "charge-requested.dlq:1",
        "charge-requested.dlq:one:0",
        "charge-requested.dlq:1:-3",
        "charge-requested.dlq:1:0:9",
    ],
)
def test_anything_else_is_refused_with_the_expected_shape(text: str) -> None:
    with pytest.raises(BadDeadLetterId, match=r"<topic>\.dlq:<partition>:<offset>"):
        DeadLetterId.parse(text)


# --- reading a dead letter ------------------------------------------------------------------


def test_a_dead_letter_says_where_it_came_from_who_refused_it_and_its_event() -> None:
    d = letter(3)

    assert d.original == ("charge-requested", 4, 103)
    assert (d.consumer, d.reason) == (CHARGE_SERVICE, "amount: Input should be greater than 0")
    assert (d.event_type, d.event_id) == ("ChargeRequested", EVENT["event_id"])


def test_a_value_that_is_not_a_json_object_has_no_event() -> None:
    for value in (b'{"event_type": ', b"[1, 2]", b"\xff\xfe"):
        assert letter(0, value=value).event_type is None


# --- choosing -------------------------------------------------------------------------------


def test_dead_letters_are_chosen_by_consumer_and_by_reason_in_any_case() -> None:
    letters = [
        letter(0),
        letter(1, consumer=LINK_SERVICE),
        letter(2, reason="schema_version 2 is not supported"),
    ]

    assert select(letters, consumer=LINK_SERVICE) == [letters[1]]
    assert select(letters, reason_contains="SCHEMA_VERSION") == [letters[2]]
    assert select(letters, consumer=CHARGE_SERVICE, reason_contains="amount") == [letters[0]]
    assert select(letters) == letters


def test_a_dead_letter_never_replayed_goes_back() -> None:
    first, second = letter(0), letter(1)

    decided = plan([first, second], {})

    assert (decided.send, decided.skip) == ([first, second], [])


def test_a_dead_letter_replayed_before_is_skipped_saying_by_whom_and_when() -> None:
    replayed, fresh = letter(0), letter(1)
    record = replays_by_dead_letter([replay_of(replayed, by="dana@ops")])

    decided = plan([replayed, fresh], record)

    assert decided.send == [fresh]
    [skipped] = decided.skip
    assert skipped.letter == replayed
    assert "already replayed by dana@ops at 2027-05-01 09:30:00 UTC" in skipped.why
    assert "--again" in skipped.why


def test_again_replays_it_once_more() -> None:
    replayed = letter(0)

    decided = plan([replayed], replays_by_dead_letter([replay_of(replayed)]), again=True)

    assert (decided.send, decided.skip) == ([replayed], [])


def test_the_same_message_dead_lettered_by_two_groups_goes_back_once() -> None:
    by_charges = letter(0, original_offset=42)
    by_links = letter(1, consumer=LINK_SERVICE, original_offset=42)

    decided = plan([by_charges, by_links], {})

    assert decided.send == [by_charges]
    assert "goes back in this run as charge-requested.dlq:1:0" in decided.skip[0].why


def test_a_message_already_back_through_another_groups_dead_letter_is_skipped() -> None:
    by_charges = letter(0, original_offset=42)
    by_links = letter(1, consumer=LINK_SERVICE, original_offset=42)
    record = replays_by_dead_letter([replay_of(by_charges)])

    decided = plan([by_links], record, known=[by_charges, by_links])

    assert decided.send == []
    assert "went back as charge-requested.dlq:1:0's replay" in decided.skip[0].why


def test_a_dead_letter_claiming_another_topic_is_not_sent_there() -> None:
    d = letter(0)
    forged = DeadLetter(
        d.id,
        d.key,
        d.value,
        tuple((k, b"payment-succeeded" if k == "dlq.original_topic" else v) for k, v in d.headers),
        0,
    )

    decided = plan([forged], {})

    assert decided.send == []
    assert "says payment-succeeded, yet it sits in charge-requested.dlq" in decided.skip[0].why


def test_an_id_given_twice_is_sent_once() -> None:
    d = letter(0)

    assert plan([d, d], {}).send == [d]


# --- the replayed message -------------------------------------------------------------------


def test_a_replay_keeps_the_original_headers_drops_the_dead_letter_ones_and_names_itself() -> None:
    d = letter(5)
    again = DeadLetter(
        d.id, d.key, d.value, (*d.headers, ("replay.of", b"charge-requested.dlq:0:1")), 0
    )

    headers = replay_headers(again, by="dana@ops", at=AT)

    assert headers == [
        ("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("replay.of", b"charge-requested.dlq:1:5"),
        ("replay.by", b"dana@ops"),
        ("replay.at", b"2027-05-01T09:30:00+00:00"),
    ]


def test_a_replacement_value_must_be_json() -> None:
    assert replacement_value(b'{"amount": 2500}', "fixed.json") == b'{"amount": 2500}'
    with pytest.raises(BadReplacement, match=r"fixed\.json is not valid JSON"):
        replacement_value(b'{"amount": 2500,', "fixed.json")
    with pytest.raises(BadReplacement, match="not UTF-8"):
        replacement_value(b"\xff{}", "fixed.json")


def test_a_replay_record_reads_back_as_written() -> None:
    replay = Replay(
        DeadLetterId("payment-failed.dlq", 2, 9), "payment-failed", 3, 88, "ci@x", AT, True
    )

    assert Replay.from_json(json.dumps(replay.to_json()).encode()) == replay


# --- what is printed ------------------------------------------------------------------------


def test_the_list_in_json_has_the_full_reason_the_event_and_the_replays() -> None:
    long_reason = "amount: " + "Input should be a valid integer " * 5
    d = letter(0, reason=long_reason)
    record = replays_by_dead_letter([replay_of(d)])

    listed = json.loads(
        render.list_json([d], ["charge-requested.dlq", "payment-failed.dlq"], record)
    )

    assert listed["counts"] == {"charge-requested.dlq": 1, "payment-failed.dlq": 0}
    [shown] = listed["dead_letters"]
    assert shown["reason"] == long_reason
    assert (shown["id"], shown["consumer"], shown["event_id"]) == (
        "charge-requested.dlq:1:0",
        CHARGE_SERVICE,
        EVENT["event_id"],
    )
    assert (shown["original_partition"], shown["original_offset"]) == (4, 100)
    assert [r["by"] for r in shown["replays"]] == ["dana@ops"]


def test_a_long_reason_is_shortened_for_the_table() -> None:
    assert render.shorten("x" * 100, 20) == "x" * 19 + "…"
    assert render.shorten("two\nlines") == "two lines"


def test_show_prints_the_value_as_json_or_escaped() -> None:
    as_json = json.loads(render.show_json(letter(0), {}))
    broken = json.loads(render.show_json(letter(1, value=b'{"amount": \xff'), {}))

    assert (as_json["value_is_json"], as_json["value"]) == (True, EVENT)
    assert (broken["value_is_json"], broken["value"]) == (False, '{"amount": \\xff')
    assert ["dlq.consumer", CHARGE_SERVICE] in as_json["headers"]
    assert '"event_type": "ChargeRequested"' in render.show_text(letter(0), {})


def test_the_outcome_counts_replayed_skipped_and_failed() -> None:
    sent, skipped = letter(0), letter(1)
    decided = plan([sent, skipped], replays_by_dead_letter([replay_of(skipped)]))
    failed = {DeadLetterId("charge-requested.dlq", 0, 9): "no such dead letter"}

    text = render.outcome_text(decided, [replay_of(sent)], failed)

    assert text.splitlines()[-1] == "1 replayed, 1 skipped, 1 failed"
    assert "FAILED   charge-requested.dlq:0:9: no such dead letter" in text


# --- the command line, before it reaches Kafka ----------------------------------------------

OFFLINE = ["--bootstrap-server", "127.0.0.1:9", "dlq"]
"""No broker there: these commands must stop before connecting."""


def said(output: str) -> str:
    """An error as one line, out of the box the terminal drew around it."""
    return " ".join(output.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay"], "ids, or --topic T, or --all"),
        (["replay", "charge-requested.dlq:1:0", "--all"], "ids, or --topic T, or --all"),
        (["replay", "charge-requested.dlq:1:0", "--consumer", "x"], "filter --topic or --all"),
        (["replay", "--all", "--value-file", "fixed.json"], "give one id"),
        (["replay", "charge-requested:1:0"], "not a dead letter id"),
        (["show", "nope"], "not a dead letter id"),
    ],
)
def test_bad_arguments_are_refused_before_connecting(
    args: list[str], message: str, tmp_path: Path
) -> None:
    (tmp_path / "fixed.json").write_text("{}")
    runner = CliRunner()

    result = runner.invoke(app, [*OFFLINE, *args], catch_exceptions=False)

    assert result.exit_code == 2
    assert message in said(result.stderr)


def test_a_value_file_that_is_not_json_is_refused_clearly(tmp_path: Path) -> None:
    broken = tmp_path / "fixed.json"
    broken.write_text('{"amount": 2500,')

    result = CliRunner().invoke(
        app,
        [*OFFLINE, "replay", "charge-requested.dlq:1:0", "--value-file", str(broken)],
    )

    assert result.exit_code == 2
    assert "fixed.json is not valid JSON" in said(result.stderr)
