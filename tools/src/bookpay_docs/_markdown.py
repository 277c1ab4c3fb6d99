"""docs/events.md: the event contract as a page for people, made from the JSON Schemas."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from bookpay_shared import events as events_module
from bookpay_shared.events import ALL_EVENTS, Event, utcnow
from bookpay_shared.flows import Flow
from bookpay_shared.money import THREE_DECIMAL_CURRENCIES, ZERO_DECIMAL_CURRENCIES
from bookpay_shared.topics import ALL_TOPICS, DLQ_SUFFIX
from pydantic.fields import FieldInfo

from bookpay_docs._text import (
    ENVELOPE_FIELDS,
    attribute_docstrings,
    event_summary,
    example_event,
    field_description,
    key_field,
)

Schemas = Mapping[str, Mapping[str, Any]]

_GENERATED = (
    "<!-- Generated from bookpay_shared.events by "
    "`python -m bookpay_docs.contract_docs --write docs/`. Do not edit: change the models, then "
    "regenerate. -->"
)

_FORMATS = {"uuid": "UUID", "date-time": "date-time (RFC 3339)", "email": "email address"}
_FACTORIES: dict[Callable[..., Any], str] = {
    uuid.uuid4: "a new UUID",
    utcnow: "the time it is made",
}


def render_events_markdown(
    flows: Mapping[type[Event], Flow], schemas: Schemas, dlq_headers: Mapping[str, str]
) -> str:
    sections = [
        _intro(),
        _topics(flows),
        _envelope(schemas),
        _MONEY.format(zero=_codes(ZERO_DECIMAL_CURRENCIES), three=_codes(THREE_DECIMAL_CURRENCIES)),
        _DELIVERY,
        "## Events",
        *(_event(e, flows[e], schemas) for e in ALL_EVENTS),
        _enumerations(schemas),
        _dead_letters(dlq_headers),
        _VERSIONING,
    ]
    return "\n\n".join(s.strip("\n") for s in sections) + "\n"


def _intro() -> str:
    return f"""{_GENERATED}

# Events: contract version 1

bookpay's services share data only through these Kafka events (and, for staff-facing reads,
HTTP: see [http-api.md](http-api.md)). The models in `bookpay_shared.events` are the contract's
single source; this page and [asyncapi.yaml](asyncapi.yaml) (AsyncAPI 3.0, with each event's
JSON Schema) are generated from them."""


def _topics(flows: Mapping[type[Event], Flow]) -> str:
    rows = [["topic", "event", "key", "partitions", "cleanup", "producers", "consumers"]]
    specs = {t.name: t for t in ALL_TOPICS}
    for event in ALL_EVENTS:
        spec, flow = specs[event.TOPIC], flows[event]
        rows.append(
            [
                f"`{spec.name}`",
                f"[{event.__name__}](#{event.__name__.lower()})",
                f"`{key_field(event)}`",
                str(spec.partitions),
                spec.config.get("cleanup.policy", "delete"),
                ", ".join(flow.producers),
                ", ".join(flow.consumers) or "none yet",
            ]
        )
    dlq = next(t for t in ALL_TOPICS if t.name.endswith(DLQ_SUFFIX))
    return f"""## Topics

{_table(rows)}

Each topic `T` above also has a dead-letter topic `T{DLQ_SUFFIX}` ({dlq.partitions} partitions,
see [Dead letters](#dead-letters)). Topics are created explicitly from
`bookpay_shared.topics.ALL_TOPICS`; brokers never create topics on their own. Each service
consumes each topic in its own consumer group, `<service>.<topic>` (for example
`booking-service.payment-succeeded`), so it scales out up to the topic's partition count."""


def _envelope(schemas: Schemas) -> str:
    return f"""## Envelope

Every message value is one event: a UTF-8 JSON object. Every event has these fields.

{_field_table(ALL_EVENTS[0], ENVELOPE_FIELDS, schemas, _ENVELOPE_OVERRIDES)}

Producers always send every field, defaults included. `correlation_id` ties together the
events of one charge flow, across services; log it with everything done for the event."""


_MONEY = """## Money

- An amount is an integer in the currency's minor unit (cents for `usd`, yen for `jpy`), never a
  float and never a string: `1050` in `usd` is $10.50. Amounts of a charge are greater than 0
  and at most 99,999,999,999.
- `currency` is a lower-case ISO 4217 code that Stripe can charge in (`usd`, `eur`, `jpy`, …).
- Zero-decimal currencies (the amount is in whole units): {zero}.
- Three-decimal currencies: {three}. Every other currency has two decimals.
- Only `bookpay_shared.money.format_amount` turns an amount into text for people."""

_DELIVERY = """## Delivery

- Order holds per message key only: all events of one customer's charges (or of one booking, or
  one entity's state) are read in the order they were written.
- Delivery is at least once. A consumer records `(consumer, event_id)` in the same database
  transaction as its effect, so a redelivered event does nothing, and commits its offset only
  after that transaction.
- Events that follow a database change are written to the producer's outbox in the same
  transaction and relayed to Kafka by an idempotent producer."""


def _event(event: type[Event], flow: Flow, schemas: Schemas) -> str:
    name = event.__name__
    fields = [f for f in event.model_fields if f not in ENVELOPE_FIELDS]
    example = json.dumps(example_event(event).model_dump(mode="json"), indent=2)
    return f"""### {name}

{event_summary(event)}

- Topic: `{event.TOPIC}`; key: `{key_field(event)}`; `event_type`: `"{name}"`.
- Produced by: {_roles(flow.sends, "publishes it")}.
- Consumed by: {_roles(flow.receives, "consumes it") if flow.receives else "no service yet"}.

{_field_table(event, fields, schemas)}

Example:

```json
{example}
```"""


def _roles(services: Mapping[str, str], default: str) -> str:
    """`a, which does x; b, which does y`, or `a, b (each does x)` when they all do the same."""
    notes = set(services.values())
    if len(services) > 1 and len(notes) == 1:
        return f"{', '.join(services)} (each {notes.pop() or default})"
    return "; ".join(f"{service}, which {note or default}" for service, note in services.items())


_ENVELOPE_OVERRIDES = {"event_type": ("string", "no (default: the event's name)")}
"""The envelope is shown with the first event's schema; event_type differs from event to event."""


def _field_table(
    event: type[Event],
    fields: tuple[str, ...] | list[str],
    schemas: Schemas,
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    properties = schemas[event.__name__]["properties"]
    rows = [["field", "type", "required", "description"]]
    for name in fields:
        kind, required = (overrides or {}).get(name) or (
            _type(properties[name], schemas),
            _required(event.model_fields[name]),
        )
        rows.append([f"`{name}`", kind, required, field_description(event, name) or ""])
    return _table(rows)


def _required(info: FieldInfo) -> str:
    if info.is_required():
        return "yes"
    if info.default_factory is not None:
        made = _FACTORIES.get(info.default_factory, "a new one")
        return f"no (default: {made})"
    return f"no (default: `{json.dumps(info.default, default=str)}`)"


def _type(schema: Mapping[str, Any], schemas: Schemas) -> str:
    if "$ref" in schema:
        target = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return _type(target, schemas) if "enum" in target else _object(target, schemas)
    if "anyOf" in schema:
        return " or ".join(_type(s, schemas) for s in schema["anyOf"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " | ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema['items'], schemas)}{_count(schema, 'Items', 'items')}"
    if kind == "object":
        return _object(schema, schemas)
    if kind == "string":
        text = _FORMATS.get(schema.get("format", ""), "string")
        if "pattern" in schema:
            text += f" matching `{schema['pattern']}`"
        return text + _count(schema, "Length", "characters")
    return str(kind) + _bounds(schema)


def _object(schema: Mapping[str, Any], schemas: Schemas) -> str:
    props = schema.get("properties", {})
    inner = ", ".join(f"{name}: {_type(p, schemas)}" for name, p in props.items())
    return f"object {{{inner}}}" if inner else "object"


def _count(schema: Mapping[str, Any], suffix: str, unit: str) -> str:
    low, high = schema.get(f"min{suffix}"), schema.get(f"max{suffix}")
    if low is None and high is None:
        return ""
    if low == high:
        return f" ({low} {unit})"
    if high is None:
        return f" (at least {low} {unit})"
    if low is None:
        return f" (at most {high} {unit})"
    return f" ({low} to {high} {unit})"


def _bounds(schema: Mapping[str, Any]) -> str:
    parts = []
    for key, sign in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("maximum", "≤")):
        if key in schema:
            parts.append(f"{sign} {schema[key]:,}")
    return f" ({', '.join(parts)})" if parts else ""


def _enumerations(schemas: Schemas) -> str:
    blocks = ["## Enumerations"]
    for name, schema in schemas.items():
        if "enum" not in schema:
            continue
        enum: type[Enum] = getattr(events_module, name)
        notes = attribute_docstrings(enum)
        lines = [f"- `{m.value}`" + (f": {notes[m.name]}" if m.name in notes else "") for m in enum]
        doc = f"{schema['description']}\n\n" if "description" in schema else ""
        blocks.append(f"### {name}\n\n{doc}" + "\n".join(lines))
    return "\n\n".join(blocks)


def _dead_letters(headers: Mapping[str, str]) -> str:
    rows = [["header", "value"], *([f"`{name}`", text] for name, text in headers.items())]
    return f"""## Dead letters

A message a consumer cannot process goes to the dead-letter topic of the topic it came from,
`<topic>{DLQ_SUFFIX}`, and the consumer moves on. That covers a message that is not JSON, does not
match its event's schema, or has an unknown `event_type` or `schema_version`; an event the
handler refuses as unprocessable; and an event whose handler keeps failing after several
attempts. Transient failures (a database or Stripe that is down) are retried with backoff and
never dead-lettered.

A dead letter's value and key are the original message's, byte for byte; its headers are the
original headers plus:

{_table(rows)}

To replay a dead letter once its cause is fixed, `bookpay-ops dlq replay` publishes its value
(or a repaired one) with its key and original headers back to the original topic, and records
the replay in the compacted topic `dlq-replays` so that no dead letter is replayed twice by
accident (see docs/ops.md). Every consumer group of the topic reads the replayed message;
consumers are idempotent by `event_id`, so a group that did process the event does nothing the
second time."""


_VERSIONING = """## Versioning

- Consumers ignore fields they do not know. So a producer may add a field at any time; a new
  field is optional (it has a default) until every producer sends it.
- Never remove, rename or retype a field, or narrow what it accepts, within a version.
- A breaking change is a new event (a new name, possibly on a new topic) or a new
  `schema_version`. A consumer dead-letters a `schema_version` it does not know, so upgrade the
  consumers before the producers, and keep publishing the old version while any consumer
  needs it.
- After any change to `bookpay_shared.events` or `bookpay_shared.topics`, regenerate this page
  and asyncapi.yaml with `python -m bookpay_docs.contract_docs --write docs/`;
  `tools/tests/test_contract_docs.py` fails while they are out of date."""


def _codes(codes: frozenset[str]) -> str:
    return ", ".join(f"`{c}`" for c in sorted(codes))


def _table(rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_cell(c) for c in cells) + " |"

    header, *body = rows
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, body)])


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")
