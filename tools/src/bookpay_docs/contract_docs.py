"""The published event contract, generated from the event models and topics.

`build_asyncapi()` makes an AsyncAPI 3.0 document (one channel per topic, one message per event,
each with its JSON Schema, and which service sends or receives what); `render_events_markdown()`
makes docs/events.md, and `kafka_security` docs/kafka-security.md. They come from
`events.ALL_EVENTS`, `topics.ALL_TOPICS` and the `flows.FLOWS` table of the shared library, so a
contract change shows up in the docs as soon as they are regenerated:

    python -m bookpay_docs.contract_docs --write docs/   # asyncapi.yaml, events.md, kafka-security.md
    python -m bookpay_docs.contract_docs --check docs/   # exit 1 when they are out of date
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from bookpay_shared.consuming import consumer_group
from bookpay_shared.events import ALL_EVENTS, Event
from bookpay_shared.flows import flow_of
from bookpay_shared.topics import ALL_TOPICS, DLQ_REPLAYS, DLQ_SUFFIX, TopicSpec
from pydantic.json_schema import models_json_schema

from bookpay_docs import kafka_security
from bookpay_docs._markdown import render_events_markdown
from bookpay_docs._text import event_summary, example_event, field_description, key_field
from bookpay_docs.cli import docs_cli

__all__ = [
    "DLQ_HEADERS",
    "build_asyncapi",
    "event_schemas",
    "main",
    "render_files",
    "stale_files",
    "write_files",
]

DLQ_HEADERS: Mapping[str, str] = {
    "dlq.reason": "Why the message was rejected: `invalid message: …` (bad JSON, wrong schema, "
    "unknown version or event type), `unprocessable: …`, or `handler error: …` after "
    "repeated failures.",
    "dlq.consumer": "The consumer group that rejected it (`<service>.<topic>`).",
    "dlq.original_topic": "The topic the message was read from.",
    "dlq.original_partition": "Its partition there (decimal).",
    "dlq.original_offset": "Its offset there (decimal).",
    "dlq.failed_at": "When it was dead-lettered (RFC 3339, UTC).",
}
"""Headers a dead letter carries besides the original message's own headers, which are kept."""

ASYNCAPI_FILE = "asyncapi.yaml"
EVENTS_FILE = "events.md"
KAFKA_SECURITY_FILE = "kafka-security.md"
_KAFKA_BINDING = "0.5.0"
_GENERATED = "python -m bookpay_docs.contract_docs --write docs/"


def topic_spec(name: str) -> TopicSpec:
    return next(t for t in ALL_TOPICS if t.name == name)


def dead_letter_topics() -> list[tuple[TopicSpec, type[Event]]]:
    """Each dead-letter topic with the event of the topic it belongs to."""
    by_topic = {e.TOPIC: e for e in ALL_EVENTS}
    return [
        (spec, by_topic[spec.name.removesuffix(DLQ_SUFFIX)])
        for spec in ALL_TOPICS
        if spec.name.endswith(DLQ_SUFFIX)
    ]


def event_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of every event and the types they use, referring to each other as
    `#/components/schemas/<name>`; fields the models leave undescribed get the contract's
    description."""
    _, top = models_json_schema(
        [(e, "validation") for e in ALL_EVENTS], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, dict[str, Any]] = top["$defs"]
    for event in ALL_EVENTS:
        schema = schemas[event.__name__]
        schema.setdefault("description", event_summary(event))
        for name, prop in schema["properties"].items():
            description = field_description(event, name)
            if description and "description" not in prop:
                prop["description"] = description
    return schemas


def build_asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {
        "DeadLetter": _dead_letter_message(),
        "DeadLetterReplay": _replay_message(),
    }
    for event in ALL_EVENTS:
        channels[event.TOPIC] = _channel(event)
        messages[event.__name__] = _message(event)
        operations |= _operations(event)
    for spec, event in dead_letter_topics():
        channels[spec.name] = _dead_letter_channel(spec, event)
        operations |= _dead_letter_operations(spec, event)
    channels[DLQ_REPLAYS] = _replays_channel(topic_spec(DLQ_REPLAYS))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "bookpay events",
            "version": "1",
            "description": _INFO,
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "Kafka of the local stack (bookpay-devstack) or of "
                "docker-compose.yml, from the host.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": event_schemas(), "messages": messages},
    }


_INFO = """The events bookpay's services exchange over Kafka, version 1 of the contract.

Every message value is one event as a UTF-8 JSON object carrying `event_id`, `event_type`,
`schema_version`, `occurred_at` and `correlation_id`. Money is an integer amount in the
currency's minor unit plus a lower-case ISO 4217 code, never a float. Order is guaranteed per
message key only. Delivery is at least once: consumers are idempotent by `event_id`. Consumers
ignore fields they do not know; a breaking change is a new event name or schema version.
A message a consumer cannot process goes, unchanged, to the topic's `.dlq` topic.
See docs/events.md."""


def _channel(event: type[Event]) -> dict[str, Any]:
    spec = topic_spec(event.TOPIC)
    policy = spec.config.get("cleanup.policy", "delete")
    description = (
        f"{event.__name__} events, keyed by {key_field(event)} (order holds per "
        f"{key_field(event)}), in {spec.partitions} partitions."
    )
    if "compact" in policy:
        description += (
            " Compacted (cleanup.policy=compact): Kafka keeps at least the newest event of "
            "each key, so a new consumer rebuilds the current state by reading from the start."
        )
    return {
        "address": spec.name,
        "title": spec.name,
        "description": description,
        "messages": {event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "topicConfiguration": {"cleanup.policy": policy.split(",")},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _message(event: type[Event]) -> dict[str, Any]:
    name = event.__name__
    return {
        "name": name,
        "title": name,
        "summary": event_summary(event),
        "contentType": "application/json",
        "correlationId": {
            "description": "The charge_id of the flow (an entity's own id for entity state).",
            "location": "$message.payload#/correlation_id",
        },
        "payload": {"$ref": f"#/components/schemas/{name}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"The event's {key_field(event)}."},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
        "examples": [{"name": f"{name}Example", "payload": _example_payload(event)}],
    }


def _example_payload(event: type[Event]) -> dict[str, Any]:
    payload: dict[str, Any] = example_event(event).model_dump(mode="json")
    return payload


def _operations(event: type[Event]) -> dict[str, Any]:
    flow = flow_of(event)
    name, topic = event.__name__, event.TOPIC
    sends = {
        f"{service}.send.{name}": _operation(
            "send", topic, name, f"{service} {_name_it(note, name) or f'publishes {name}'}."
        )
        for service, note in flow.sends.items()
    }
    receives = {
        f"{service}.receive.{name}": _operation(
            "receive",
            topic,
            name,
            f"{service} {note or f'consumes {name}'}.",
            consumer_group(service, topic),
            service,
        )
        for service, note in flow.receives.items()
    }
    return sends | receives


def _name_it(note: str, name: str) -> str:
    return note.replace("publishes it", f"publishes {name}", 1)


def _operation(
    action: str,
    channel: str,
    message: str,
    summary: str,
    group: str | None = None,
    client: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
    }
    if group and client:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group]},
                "clientId": {"type": "string", "enum": [client]},
                "bindingVersion": _KAFKA_BINDING,
            }
        }
    return operation


def _dead_letter_channel(spec: TopicSpec, event: type[Event]) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": spec.name,
        "description": (
            f"Dead letters of {event.TOPIC}: each message a consumer of {event.TOPIC} could "
            f"not process, byte for byte with its key, plus dlq.* headers saying why. "
            f"{spec.partitions} partitions."
        ),
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "topicConfiguration": {"cleanup.policy": ["delete"]},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _dead_letter_operations(spec: TopicSpec, event: type[Event]) -> dict[str, Any]:
    return {
        f"{service}.send.{spec.name}": _operation(
            "send",
            spec.name,
            "DeadLetter",
            f"{service} dead-letters the {event.TOPIC} messages it cannot process.",
        )
        for service in flow_of(event).consumers
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead letter",
        "summary": "A message a consumer could not process, as it was read, and why.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "required": list(DLQ_HEADERS),
            "properties": {
                name: {"type": "string", "description": text} for name, text in DLQ_HEADERS.items()
            },
            "additionalProperties": {
                "type": "string",
                "description": "The original message's own headers, kept.",
            },
        },
        "payload": {
            "description": "The original message's value, byte for byte (it may not be JSON)."
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original message's key."},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


def _replays_channel(spec: TopicSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": spec.name,
        "description": (
            "Operations' record of the dead letters sent back to their topics by "
            "`bookpay-ops dlq replay`, keyed by the dead letter's id "
            "(`<dlq topic>:<partition>:<offset>`). No service reads or writes it. "
            f"{spec.partitions} partition, compacted."
        ),
        "messages": {"DeadLetterReplay": {"$ref": "#/components/messages/DeadLetterReplay"}},
        "bindings": {
            "kafka": {
                "topic": spec.name,
                "partitions": spec.partitions,
                "topicConfiguration": {"cleanup.policy": ["compact"]},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


_REPLAY_FIELDS: Mapping[str, tuple[str, str]] = {
    "dead_letter": ("string", "The dead letter's id, `<dlq topic>:<partition>:<offset>`."),
    "original_topic": ("string", "The topic it was replayed to (where it came from)."),
    "original_partition": ("integer", "The partition it came from."),
    "original_offset": ("integer", "Its offset there."),
    "replayed_to_partition": ("integer", "Where the replayed message was written."),
    "replayed_to_offset": ("integer", "Its offset there."),
    "by": ("string", "The operator who replayed it (`user@host` unless named)."),
    "at": ("string", "When, RFC 3339 in UTC."),
    "value_replaced": ("boolean", "True when the operator replaced the value with a fix."),
}


def _replay_message() -> dict[str, Any]:
    return {
        "name": "DeadLetterReplay",
        "title": "Dead letter replayed",
        "summary": "A dead letter sent back to its topic: which, where to, by whom and when.",
        "contentType": "application/json",
        "payload": {
            "type": "object",
            "required": list(_REPLAY_FIELDS),
            "properties": {
                name: {"type": kind, "description": text}
                for name, (kind, text) in _REPLAY_FIELDS.items()
            },
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The dead letter's id."},
                "bindingVersion": _KAFKA_BINDING,
            }
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes text of several lines as literal blocks, as a person would."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def render_asyncapi_yaml() -> str:
    header = f"# Generated from bookpay_shared.events by `{_GENERATED}`. Do not edit.\n"
    body = yaml.dump(
        build_asyncapi(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100
    )
    return header + body


def render_files() -> dict[str, str]:
    """The generated documents, by file name."""
    return {
        KAFKA_SECURITY_FILE: kafka_security.render_markdown(),
        ASYNCAPI_FILE: render_asyncapi_yaml(),
        EVENTS_FILE: render_events_markdown(
            {e: flow_of(e) for e in ALL_EVENTS}, event_schemas(), DLQ_HEADERS
        ),
    }


def stale_files(folder: Path) -> list[str]:
    """The generated files in `folder` that are missing or differ from what the models make."""
    return [
        name
        for name, text in render_files().items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]


def write_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_files().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    return docs_cli(
        prog="python -m bookpay_docs.contract_docs",
        description="Generate the event contract's documents from the event models.",
        write_files=write_files,
        stale_files=stale_files,
        regenerate=_GENERATED,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
