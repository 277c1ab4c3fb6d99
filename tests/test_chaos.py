"""A short seeded chaos run on the real system: about 120 charges paced over a minute and a
half while every kind of fault is injected at least once; afterwards every invariant holds.

Slow (it starts its own stack, on the chaos ports + BOOKPAY_TEST_PORT_OFFSET): marked `e2e`
like the other tests that run the services as processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.faults import STRIPE_KINDS, WEBHOOK_KINDS, FaultKind
from chaos.run import Options, run, summary

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

PROXY_KINDS = {str(k) for k in (*STRIPE_KINDS, *WEBHOOK_KINDS, FaultKind.SMTP_DROP_AFTER_DATA)}


@pytest.mark.timeout(600)
async def test_a_short_chaos_run_keeps_every_invariant() -> None:
    report = await run(
        Options(seed=11, charges=120, duration=90, mean_fault_pause=2.0, concurrency=8)
    )
    print(summary(report))

    injected = report["faults_injected"]
    assert {str(k) for k in FaultKind} <= set(injected), injected
    assert set(report["faults_applied_by_proxies"]) >= PROXY_KINDS, report
    assert report["fault_errors"] == []
    assert report["charges_accepted"] >= 110
    assert report["left_in_flight_after_drain"] == {}
    outcomes = report["charge_outcomes"]
    assert outcomes.get("succeeded", 0) > 0 and outcomes.get("failed", 0) > 0, outcomes
    broken = [v for v in report["invariants"] if not v["held"]]
    assert broken == [], broken
