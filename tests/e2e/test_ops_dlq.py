"""An operator finds a poison ChargeRequested in the dead letters with `bookpay-ops dlq list`,
repairs it and replays it once: the charge goes through exactly once, the replay is on
record, and replaying the same dead letter again is refused and changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from bookpay_devstack.events import EventLog, about
from bookpay_devstack.stack import Stack
from bookpay_devstack.system import Services
from bookpay_shared import topics
from typer.testing import Result

from .ops_cli import run_ops
from .support import Bookpay, eventually
from .test_delivery import charge_requested, publish

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPERATOR = "dana@ops-laptop"


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


async def test_a_repaired_dead_letter_is_replayed_once_and_on_record(
    bookpay: Bookpay,
    event_log: EventLog,
    kafka: AIOKafkaProducer,
    stack: Stack,
    system: Services,
    tmp_path: Path,
) -> None:
    customer = await bookpay.new_customer(await bookpay.new_account(), [2500])
    await bookpay.save_card(customer)
    event = charge_requested(customer, 2500)
    poison = json.loads(event.to_json())
    poison["amount"] = "twenty-five dollars"
    await publish(kafka, customer, json.dumps(poison).encode())
    charge_service = "charge-service.charge-requested"

    async def listed() -> dict[str, Any] | None:
        listing = as_json(
            await run_ops(stack, system, "dlq", "list", "--topic", "charge-requested", "--json")
        )
        mine = [
            d
            for d in listing["dead_letters"]
            if d["event_id"] == str(event.event_id) and d["consumer"] == charge_service
        ]
        return mine[0] if mine else None

    dead: dict[str, Any] = await eventually(listed, timeout=30)
    assert dead["original_topic"] == topics.CHARGE_REQUESTED
    assert dead["event_type"] == "ChargeRequested"
    assert "amount" in dead["reason"]
    assert dead["replays"] == []
    table = await run_ops(stack, system, "dlq", "list", "--consumer", charge_service)
    assert table.exit_code == 0, table.stderr
    assert dead["id"] in table.stdout
    assert "charge-requested.dlq" in table.stdout.split("per topic:")[1]
    shown = as_json(await run_ops(stack, system, "dlq", "show", dead["id"], "--json"))
    assert shown["value"]["amount"] == "twenty-five dollars"
    assert dict(shown["headers"])["dlq.consumer"] == charge_service

    not_json = tmp_path / "broken.json"
    not_json.write_text('{"amount": 2500,')
    refused = await run_ops(
        stack, system, "dlq", "replay", dead["id"], "--value-file", str(not_json)
    )
    assert refused.exit_code == 2
    assert "broken.json is not valid JSON" in " ".join(refused.stderr.replace("│", " ").split())
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({**poison, "amount": 2500}))
    before = datetime.now(UTC)

    replayed = as_json(
        await run_ops(
            stack,
            system,
            "dlq",
            "replay",
            dead["id"],
            "--value-file",
            str(fixed),
            "--by",
            OPERATOR,
            "--json",
        )
    )

    [done] = replayed["replayed"]
    assert (done["dead_letter"], done["by"], done["value_replaced"]) == (dead["id"], OPERATOR, True)
    assert replayed["failed"] == []
    charge = await bookpay.wait_charge_done(customer, str(event.charge_id))
    assert charge["status"] == "succeeded"
    succeeded = await event_log.wait_for(
        topics.PAYMENT_SUCCEEDED, about("charge_id", event.charge_id)
    )
    [again] = event_log.matching(topics.CHARGE_REQUESTED, about("event_id", event.event_id))[1:]
    assert again.headers["replay.of"] == dead["id"]
    assert not any(name.startswith("dlq.") for name in again.headers)
    record = as_json(await run_ops(stack, system, "dlq", "replays", "--json"))["replays"]
    [mine] = [r for r in record if r["dead_letter"] == dead["id"]]
    assert mine["by"] == OPERATOR
    assert before <= datetime.fromisoformat(mine["at"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert (mine["replayed_to_partition"], mine["replayed_to_offset"]) == (
        again.partition,
        again.offset,
    )

    second = await run_ops(stack, system, "dlq", "replay", dead["id"], "--json")

    assert as_json(second)["replayed"] == []
    [skipped] = as_json(second)["skipped"]
    assert skipped["id"] == dead["id"]
    assert f"already replayed by {OPERATOR}" in skipped["why"]
    await asyncio.sleep(3)  # time enough for a second charge, were one asked for
    assert len(event_log.matching(topics.CHARGE_REQUESTED, about("event_id", event.event_id))) == 2
    assert succeeded == event_log.matching(
        topics.PAYMENT_SUCCEEDED, about("charge_id", event.charge_id)
    )
    assert len(await bookpay.payment_intents(str(event.charge_id))) == 1
    booking = await bookpay.get_booking(customer, customer.booking_ids[0])
    assert (booking["status"], booking["amount_paid"]) == ("charged_in_full", 2500)
    relisted = as_json(await run_ops(stack, system, "dlq", "list", "--json"))
    [listed_again] = [d for d in relisted["dead_letters"] if d["id"] == dead["id"]]
    assert [r["by"] for r in listed_again["replays"]] == [OPERATOR]


async def test_an_unknown_dead_letter_is_reported_not_replayed(
    stack: Stack, system: Services
) -> None:
    missing = f"{topics.dlq(topics.CHARGE_REQUESTED)}:0:{10**9}"

    result = await run_ops(stack, system, "dlq", "replay", missing, "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout)["failed"][0]["id"] == missing
    shown = await run_ops(stack, system, "dlq", "show", missing)
    assert shown.exit_code == 1
    assert f"no dead letter {missing}" in shown.stderr
