"""What `bookpay-ops dlq` prints: tables for people, JSON for scripts, from dead letters and
replays already read (pure functions: the tests call them on records made by hand)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bookpay_ops.dead_letters import DeadLetter, DeadLetterId, Plan, Replay

REASON_WIDTH = 60
Replays = Mapping[DeadLetterId, Sequence[Replay]]


def shorten(text: str, width: int = REASON_WIDTH) -> str:
    """One line of at most `width` characters (an ellipsis says there is more)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_bytes(raw: bytes) -> str:
    """UTF-8 text as is; any other byte as a backslash escape."""
    return raw.decode("utf-8", errors="backslashreplace")


def pretty_value(raw: bytes) -> str:
    """The value as indented JSON when it is JSON, else its text with bad bytes escaped."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return shown_bytes(raw)


def letter_json(letter: DeadLetter, replays: Replays) -> dict[str, Any]:
    topic, partition, offset = letter.original
    return {
        "id": str(letter.id),
        "original_topic": topic,
        "original_partition": partition,
        "original_offset": offset,
        "consumer": letter.consumer,
        "failed_at": letter.failed_at,
        "reason": letter.reason,
        "event_type": letter.event_type,
        "event_id": letter.event_id,
        "replays": [r.to_json() for r in replays.get(letter.id, ())],
    }


def counts(letters: Sequence[DeadLetter], topics: Sequence[str]) -> dict[str, int]:
    """Dead letters per dead-letter topic, the empty ones included."""
    found = Counter(d.id.topic for d in letters)
    return {t: found.get(t, 0) for t in sorted({*topics, *found})}


def list_json(letters: Sequence[DeadLetter], topics: Sequence[str], replays: Replays) -> str:
    return json.dumps(
        {
            "counts": counts(letters, topics),
            "dead_letters": [letter_json(d, replays) for d in letters],
        },
        indent=2,
    )


def replayed_cell(letter: DeadLetter, replays: Replays) -> str:
    done = replays.get(letter.id, ())
    if not done:
        return "no"
    last = done[-1]
    times = f" ({len(done)}x)" if len(done) > 1 else ""
    return f"{last.at:%Y-%m-%d %H:%M:%S}{times}"


def list_table(letters: Sequence[DeadLetter], topics: Sequence[str], replays: Replays) -> Group:
    shown = Table(title=f"Dead letters ({len(letters)})")
    for column in ("id", "original", "consumer", "failed at", "reason", "event", "replayed"):
        shown.add_column(column, overflow="fold")
    for d in letters:
        topic, partition, offset = d.original
        event = " ".join(x for x in (d.event_type, d.event_id) if x)
        shown.add_row(
            str(d.id),
            f"{topic}:{partition}:{offset}",
            d.consumer,
            d.failed_at[:19].replace("T", " "),
            escape(shorten(d.reason)),
            event,
            replayed_cell(d, replays),
        )
    per_topic = ", ".join(f"{t} {n}" for t, n in counts(letters, topics).items() if n)
    return Group(shown, Text(f"per topic: {per_topic or 'no dead letters'}"))


def show_json(letter: DeadLetter, replays: Replays) -> str:
    try:
        value: Any = json.loads(letter.value)
        is_json = True
    except ValueError:
        value, is_json = shown_bytes(letter.value), False
    return json.dumps(
        {
            **letter_json(letter, replays),
            "key": shown_bytes(letter.key),
            "headers": [[k, shown_bytes(v)] for k, v in letter.headers],
            "value_is_json": is_json,
            "value": value,
        },
        indent=2,
        ensure_ascii=False,
    )


def show_text(letter: DeadLetter, replays: Replays) -> str:
    topic, partition, offset = letter.original
    lines = [
        f"dead letter  {letter.id}",
        f"original     {topic}:{partition}:{offset}",
        f"consumer     {letter.consumer}",
        f"failed at    {letter.failed_at}",
        f"event        {letter.event_type or '-'} {letter.event_id or ''}".rstrip(),
        f"key          {shown_bytes(letter.key)}",
        "reason",
        *(f"  {line}" for line in letter.reason.splitlines() or [""]),
        "headers",
        *(f"  {k}: {shown_bytes(v)}" for k, v in letter.headers),
        "value" + ("" if letter.event is not None else " (not a JSON object)"),
        *(f"  {line}" for line in pretty_value(letter.value).splitlines()),
        "replays",
        *(f"  {replay_line(r)}" for r in replays.get(letter.id, ())),
    ]
    if not replays.get(letter.id):
        lines.append("  none")
    return "\n".join(lines)


def replay_line(r: Replay) -> str:
    fixed = ", value replaced" if r.value_replaced else ""
    return (
        f"{r.at:%Y-%m-%d %H:%M:%S} UTC by {r.by} to "
        f"{r.original_topic}:{r.replayed_to_partition}:{r.replayed_to_offset}{fixed}"
    )


def replays_json(replays: Sequence[Replay]) -> str:
    return json.dumps({"replays": [r.to_json() for r in replays]}, indent=2)


def replays_table(replays: Sequence[Replay]) -> Table:
    shown = Table(title=f"Dead letters replayed ({len(replays)})")
    for column in ("at (UTC)", "dead letter", "by", "replayed to", "value"):
        shown.add_column(column, overflow="fold")
    for r in replays:
        shown.add_row(
            f"{r.at:%Y-%m-%d %H:%M:%S}",
            str(r.dead_letter),
            r.by,
            f"{r.original_topic}:{r.replayed_to_partition}:{r.replayed_to_offset}",
            "replaced" if r.value_replaced else "as dead-lettered",
        )
    return shown


def outcome_json(plan: Plan, done: Sequence[Replay], failed: Mapping[DeadLetterId, str]) -> str:
    return json.dumps(
        {
            "replayed": [r.to_json() for r in done],
            "skipped": [{"id": str(s.letter.id), "why": s.why} for s in plan.skip],
            "failed": [{"id": str(i), "error": e} for i, e in failed.items()],
        },
        indent=2,
    )


def outcome_text(plan: Plan, done: Sequence[Replay], failed: Mapping[DeadLetterId, str]) -> str:
    lines = [
        *(f"replayed {r.dead_letter}: {replay_line(r)}" for r in done),
        *(f"skipped  {s.letter.id}: {s.why}" for s in plan.skip),
        *(f"FAILED   {i}: {e}" for i, e in failed.items()),
        f"{len(done)} replayed, {len(plan.skip)} skipped, {len(failed)} failed",
    ]
    return "\n".join(lines)
