"""The published contract (docs/asyncapi.yaml, docs/events.md) is what the event models say."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from bookpay_docs import contract_docs
from bookpay_docs._text import ENVELOPE_FIELDS, example_event, field_description, key_field
from bookpay_shared import consuming
from bookpay_shared.events import ALL_EVENTS, Event
from bookpay_shared.flows import flow_of
from bookpay_shared.topics import ALL_TOPICS

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "python -m bookpay_docs.contract_docs --write docs/"

events = pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.__name__)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contract_docs.build_asyncapi()


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


@pytest.mark.parametrize(
    "name",
    [contract_docs.ASYNCAPI_FILE, contract_docs.EVENTS_FILE, contract_docs.KAFKA_SECURITY_FILE],
)
def test_committed_docs_are_what_the_models_make(name: str) -> None:
    committed = DOCS / name
    assert committed.is_file(), f"docs/{name} is missing: run `{REGENERATE}`"
    assert committed.read_text() == contract_docs.render_files()[name], (
        f"docs/{name} is out of date with the contract: run `{REGENERATE}`"
    )


def test_committed_asyncapi_is_yaml_of_the_document(document: dict[str, Any]) -> None:
    assert yaml.safe_load((DOCS / contract_docs.ASYNCAPI_FILE).read_text()) == document


@events
def test_every_event_is_published(event: type[Event], document: dict[str, Any]) -> None:
    name = event.__name__
    channel = document["channels"][event.TOPIC]
    assert channel["address"] == event.TOPIC
    assert channel["messages"] == {name: {"$ref": f"#/components/messages/{name}"}}
    assert document["components"]["messages"][name]["payload"] == {
        "$ref": f"#/components/schemas/{name}"
    }
    assert f"\n### {name}\n" in contract_docs.render_files()[contract_docs.EVENTS_FILE]
    assert flow_of(event).producers, f"{name} has no producer in bookpay_shared.flows.FLOWS"


def test_every_topic_has_a_channel(document: dict[str, Any]) -> None:
    addresses = {c["address"] for c in document["channels"].values()}
    assert addresses == {t.name for t in ALL_TOPICS}


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in refs(document):
        assert resolve(document, ref) is not None, ref


def test_operations_name_the_services_of_the_flows(document: dict[str, Any]) -> None:
    services = {p.name for p in (DOCS.parent / "services").iterdir() if p.is_dir()}
    for event in ALL_EVENTS:
        flow = flow_of(event)
        assert set(flow.producers) | set(flow.consumers) <= services
        for service in flow.consumers:
            binding = document["operations"][f"{service}.receive.{event.__name__}"]["bindings"]
            assert binding["kafka"]["groupId"]["enum"] == [f"{service}.{event.TOPIC}"]


@events
def test_every_field_is_described(event: type[Event]) -> None:
    undescribed = [f for f in event.model_fields if not field_description(event, f)]
    assert not undescribed, (
        f"describe {event.__name__}.{', '.join(undescribed)}: a Field(description=...) or an "
        "attribute docstring in bookpay_shared.events, or an entry in bookpay_docs._text"
    )


@events
def test_example_is_a_valid_event_keyed_as_documented(event: type[Event]) -> None:
    example = example_event(event)
    assert type(example).model_validate_json(example.to_json()) == example
    key = key_field(event)
    assert key not in ENVELOPE_FIELDS
    assert example.key() == str(getattr(example, key))


@events
def test_example_matches_its_schema_shape(event: type[Event], document: dict[str, Any]) -> None:
    """Without a JSON Schema validator: required fields present, no field the schema lacks."""
    schema = document["components"]["schemas"][event.__name__]
    payload = document["components"]["messages"][event.__name__]["examples"][0]["payload"]
    assert set(schema["required"]) <= set(payload)
    assert set(payload) <= set(schema["properties"])


@events
def test_channel_message_validates_the_example(
    event: type[Event], document: dict[str, Any]
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    channel = document["channels"][event.TOPIC]
    for ref in channel["messages"].values():
        message = resolve(document, ref["$ref"])
        schema = {**message["payload"], "components": document["components"]}
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker()
        )
        for example in message["examples"]:
            validator.validate(example["payload"])
        broken = {**message["examples"][0]["payload"], "schema_version": 2}
        assert not validator.is_valid(broken)


def test_dead_letter_headers_are_the_ones_consumers_write() -> None:
    source = inspect.getsource(consuming)
    for header in contract_docs.DLQ_HEADERS:
        assert f'"{header}"' in source, f"consuming no longer writes the {header} header"


def test_check_mode_reports_stale_docs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert contract_docs.main(["--check", str(tmp_path)]) == 1
    assert contract_docs.main(["--write", str(tmp_path)]) == 0
    assert contract_docs.main(["--check", str(tmp_path)]) == 0
    (tmp_path / contract_docs.EVENTS_FILE).write_text("edited by hand\n")
    assert contract_docs.main(["--check", str(tmp_path)]) == 1
    assert "events.md is out of date" in capsys.readouterr().err
