"""Dead letters and their replays, as `bookpay-ops dlq` reasons about them: no Kafka here.

A dead letter is the message a consumer group could not process, copied byte for byte to
`<topic>.dlq` with `dlq.*` headers saying who refused it and why
(`bookpay_shared.consuming.DeadLetters`). Its id is where it sits, `<dlq topic>:<partition>:
<offset>`. A replay sends it back to its original topic and is recorded in `dlq-replays`,
keyed by that id; `plan` reads that record so that no dead letter goes back twice by accident.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from bookpay_shared.topics import DLQ_SUFFIX

DLQ_HEADER_PREFIX = "dlq."
REPLAY_HEADER_PREFIX = "replay."


class BadDeadLetterId(ValueError):
    """Text that is not `<topic>.dlq:<partition>:<offset>`."""


@dataclass(frozen=True, order=True)
class DeadLetterId:
    topic: str
    partition: int
    offset: int

    @classmethod
    def parse(cls, text: str) -> Self:
        topic, _, rest = text.strip().partition(":")
        partition, _, offset = rest.partition(":")
        if not topic.endswith(DLQ_SUFFIX) or topic == DLQ_SUFFIX:
            raise BadDeadLetterId(
                f"{text!r} is not a dead letter id: expected <topic>{DLQ_SUFFIX}:<partition>:"
                f"<offset>, such as charge-requested{DLQ_SUFFIX}:1:0"
            )
        if not (partition.isdigit() and offset.isdigit()):
            raise BadDeadLetterId(
                f"{text!r} is not a dead letter id: partition and offset are whole numbers "
                f"(<topic>{DLQ_SUFFIX}:<partition>:<offset>)"
            )
        return cls(topic, int(partition), int(offset))

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class DeadLetter:
    id: DeadLetterId
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k == name]
        return found[-1].decode(errors="replace") if found else None

    @property
    def reason(self) -> str:
        return self.header("dlq.reason") or ""

    @property
    def consumer(self) -> str:
        return self.header("dlq.consumer") or ""

    @property
    def failed_at(self) -> str:
        return self.header("dlq.failed_at") or ""

    @property
    def original_topic(self) -> str:
        return self.header("dlq.original_topic") or self.id.topic.removesuffix(DLQ_SUFFIX)

    @property
    def original(self) -> tuple[str, int | None, int | None]:
        """Where the refused message was: topic, partition, offset."""
        return (
            self.original_topic,
            _int(self.header("dlq.original_partition")),
            _int(self.header("dlq.original_offset")),
        )

    @property
    def event(self) -> Mapping[str, Any] | None:
        """The value as a JSON object, when it is one."""
        try:
            parsed = json.loads(self.value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @property
    def event_type(self) -> str | None:
        return _text(self.event, "event_type")

    @property
    def event_id(self) -> str | None:
        return _text(self.event, "event_id")


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _text(event: Mapping[str, Any] | None, name: str) -> str | None:
    value = None if event is None else event.get(name)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Replay:
    """One record of `dlq-replays`: a dead letter sent back, where to, by whom, when."""

    dead_letter: DeadLetterId
    original_topic: str
    replayed_to_partition: int
    replayed_to_offset: int
    by: str
    at: datetime
    value_replaced: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "dead_letter": str(self.dead_letter),
            "original_topic": self.original_topic,
            "replayed_to_partition": self.replayed_to_partition,
            "replayed_to_offset": self.replayed_to_offset,
            "by": self.by,
            "at": self.at.isoformat(),
            "value_replaced": self.value_replaced,
        }

    @classmethod
    def from_json(cls, value: bytes) -> Self:
        """A record as written by `to_json`; ValueError (or KeyError) on anything else."""
        data = json.loads(value)
        return cls(
            dead_letter=DeadLetterId.parse(data["dead_letter"]),
            original_topic=str(data["original_topic"]),
            replayed_to_partition=int(data["replayed_to_partition"]),
            replayed_to_offset=int(data["replayed_to_offset"]),
            by=str(data["by"]),
            at=datetime.fromisoformat(data["at"]),
            value_replaced=bool(data["value_replaced"]),
        )


def replays_by_dead_letter(replays: Iterable[Replay]) -> dict[DeadLetterId, list[Replay]]:
    found: dict[DeadLetterId, list[Replay]] = {}
    for replay in replays:
        found.setdefault(replay.dead_letter, []).append(replay)
    return found


def select(
    letters: Iterable[DeadLetter],
    *,
    consumer: str | None = None,
    reason_contains: str | None = None,
) -> list[DeadLetter]:
    """The dead letters of one consumer group and/or whose reason holds a text (any case)."""
    needle = (reason_contains or "").casefold()
    return [
        d
        for d in letters
        if (consumer is None or d.consumer == consumer) and needle in d.reason.casefold()
    ]


@dataclass(frozen=True)
class Skipped:
    letter: DeadLetter
    why: str


@dataclass(frozen=True)
class Plan:
    send: list[DeadLetter]
    skip: list[Skipped]


def plan(
    chosen: Sequence[DeadLetter],
    replayed: Mapping[DeadLetterId, Sequence[Replay]],
    *,
    known: Sequence[DeadLetter] = (),
    again: bool = False,
) -> Plan:
    """Which chosen dead letters go back, which not and why. Without `again`, one already
    replayed stays, and so does one whose original message already went back through another
    consumer group's dead letter (a replay reaches every group of the topic); the same
    original message is never sent twice in one run either. Nor does one whose
    `dlq.original_topic` header names another topic than its own dead-letter topic's (a forged
    or mangled header must not steer a message to a topic it never came from). `known`: every dead letter read,
    where those siblings are found."""
    send: list[DeadLetter] = []
    skip: list[Skipped] = []
    sent_originals: dict[tuple[str, int | None, int | None], DeadLetterId] = {}
    for letter in dict.fromkeys(chosen):
        if letter.original_topic + DLQ_SUFFIX != letter.id.topic:
            skip.append(
                Skipped(
                    letter,
                    f"its dlq.original_topic header says {letter.original_topic}, yet it sits "
                    f"in {letter.id.topic}: not sent anywhere",
                )
            )
            continue
        earlier = replayed.get(letter.id, ())
        if earlier and not again:
            last = earlier[-1]
            skip.append(
                Skipped(
                    letter,
                    f"already replayed by {last.by} at {last.at:%Y-%m-%d %H:%M:%S} UTC to "
                    f"{last.original_topic}:{last.replayed_to_partition}:"
                    f"{last.replayed_to_offset} (--again to replay it once more)",
                )
            )
            continue
        sibling = _replayed_sibling(letter, [*chosen, *known], replayed)
        if sibling is not None and not again:
            skip.append(
                Skipped(
                    letter,
                    f"the same {letter.original_topic} message went back as {sibling}'s replay "
                    "(--again to replay it once more)",
                )
            )
            continue
        if _has_original(letter) and letter.original in sent_originals:
            skip.append(
                Skipped(
                    letter,
                    f"the same {letter.original_topic} message goes back in this run as "
                    f"{sent_originals[letter.original]}",
                )
            )
            continue
        sent_originals[letter.original] = letter.id
        send.append(letter)
    return Plan(send, skip)


def _has_original(letter: DeadLetter) -> bool:
    _, partition, offset = letter.original
    return partition is not None and offset is not None


def _replayed_sibling(
    letter: DeadLetter,
    known: Sequence[DeadLetter],
    replayed: Mapping[DeadLetterId, Sequence[Replay]],
) -> DeadLetterId | None:
    """Another dead letter of the same original message that was replayed already."""
    if not _has_original(letter):
        return None
    for other in known:
        if other.id != letter.id and other.original == letter.original and other.id in replayed:
            return other.id
    return None


def replay_headers(letter: DeadLetter, *, by: str, at: datetime) -> list[tuple[str, bytes]]:
    """The original message's headers (its trace context among them) without the dead-letter
    ones or an earlier replay's, plus who sends it back, when, and which dead letter it is."""
    kept = [
        (k, v)
        for k, v in letter.headers
        if not k.startswith((DLQ_HEADER_PREFIX, REPLAY_HEADER_PREFIX))
    ]
    return [
        *kept,
        ("replay.of", str(letter.id).encode()),
        ("replay.by", by.encode()),
        ("replay.at", at.isoformat().encode()),
    ]


class BadReplacement(ValueError):
    """A replacement value that is not JSON."""


def replacement_value(raw: bytes, source: str) -> bytes:
    """A repaired message body as given: it must be UTF-8 JSON (every event is)."""
    try:
        json.loads(raw.decode())
    except UnicodeDecodeError as exc:
        raise BadReplacement(f"{source} is not UTF-8 text: {exc}") from exc
    except ValueError as exc:
        raise BadReplacement(f"{source} is not valid JSON: {exc}") from exc
    return raw
