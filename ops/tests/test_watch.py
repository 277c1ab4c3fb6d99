"""bookpay-ops watch: rates and sparklines from readings, charge counts from counter growth
(a restarted service counts from 0), what needs a look, and a frame that shows it."""

from __future__ import annotations

import io

from bookpay_ops.outbox import ServiceOutbox, State
from bookpay_ops.watch import (
    History,
    Reading,
    attention,
    counter_deltas,
    counter_totals,
    rates,
    render,
    sparkline,
)
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

OK_OUTBOXES = [ServiceOutbox("charge-service", "http://c", State.OK, 0, None)]
CARD = ("card_on_file", "succeeded")


def reading(
    at: float,
    *,
    written: dict[str, int] | None = None,
    retained: dict[str, int] | None = None,
    lag: dict[str, tuple[str, int]] | None = None,
    outboxes: list[ServiceOutbox] | None = None,
    charges: dict[tuple[str, str], float] | None = None,
) -> Reading:
    return Reading(
        at=at,
        written=written or {},
        retained=retained or {},
        lag=lag or {},
        outboxes=outboxes if outboxes is not None else OK_OUTBOXES,
        charge_counts=charges if charges is not None else {},
    )


def history(*readings: Reading, window: float = 300) -> History:
    kept = History(window=window)
    for r in readings:
        kept.add(r)
    return kept


def test_rates_are_messages_per_second_between_readings() -> None:
    readings = [
        reading(0, written={"t": 0}),
        reading(2, written={"t": 10}),
        reading(4, written={"t": 10}),
    ]
    assert rates(readings, "t") == [5.0, 0.0]
    assert rates(readings[:1], "t") == []


def test_a_sparkline_scales_to_the_window_top() -> None:
    assert sparkline([0, 5, 10]) == "▁▄█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
    assert len(sparkline([1.0] * 50, width=20)) == 20


def test_charge_counts_are_the_growth_of_the_counters_by_method_and_outcome() -> None:
    text = """\
# TYPE bookpay_charges_total counter
bookpay_charges_total{method="card_on_file",outcome="succeeded",reason="",service="charge-service"} 7.0
bookpay_charges_total{method="card_on_file",outcome="failed",reason="card_declined",service="charge-service"} 2.0
bookpay_charges_total{method="card_on_file",outcome="failed",reason="expired_card",service="charge-service"} 1.0
"""
    totals = counter_totals(text_string_to_metric_families(text))
    assert totals == {CARD: 7.0, ("card_on_file", "failed"): 3.0}
    assert counter_deltas({CARD: 4.0}, totals) == {CARD: 3, ("card_on_file", "failed"): 3}
    # charge-service restarted: its counter started again from 0.
    assert counter_deltas({CARD: 40.0}, {CARD: 2.0}) == {CARD: 2}


def test_the_history_keeps_the_window_and_at_least_two_readings() -> None:
    kept = history(*(reading(t) for t in range(0, 100, 10)), window=30)
    assert [r.at for r in kept.readings] == [60, 70, 80, 90]
    assert kept.span == 30
    assert len(history(reading(0), reading(1000), window=30).readings) == 2


def test_all_clear_when_nothing_lags_or_waits_or_is_dead_lettered() -> None:
    quiet = history(
        reading(0, lag={"g": ("Stable", 0)}, retained={"t.dlq": 0}),
        reading(2, lag={"g": ("Stable", 0)}, retained={"t.dlq": 0}),
    )
    assert attention(quiet) == []


def test_growing_lag_unstable_groups_dead_letters_and_sick_services_need_a_look() -> None:
    sick = [
        ServiceOutbox("charge-service", "http://c", State.BEHIND, 12, 95.0),
        ServiceOutbox("link-service", "http://l", State.DOWN, detail="refused"),
    ]
    kept = history(
        reading(0, lag={"a": ("Stable", 1), "b": ("Stable", 0)}, retained={"t.dlq": 1}),
        reading(
            2,
            lag={"a": ("Stable", 5), "b": ("PreparingRebalance", 0)},
            retained={"t.dlq": 3},
            outboxes=sick,
        ),
    )
    assert attention(kept) == [
        "charge-service's outbox is behind (12 waiting)",
        "link-service is down",
        "a lag growing (1 → 5)",
        "b is PreparingRebalance",
        "2 new dead letters on t.dlq",
    ]


def test_lag_that_shrinks_is_not_a_problem() -> None:
    kept = history(reading(0, lag={"a": ("Stable", 9)}), reading(2, lag={"a": ("Stable", 4)}))
    assert attention(kept) == []


def test_a_frame_shows_rates_lag_charges_and_dead_letters() -> None:
    kept = history(
        reading(0, written={"payment-succeeded": 0}, charges={CARD: 10.0}),
        reading(
            2,
            written={"payment-succeeded": 8},
            retained={"charge-requested.dlq": 1},
            lag={"booking-service.payment-succeeded": ("Stable", 3)},
            charges={CARD: 18.0},
        ),
    )
    out = io.StringIO()
    Console(file=out, width=200).print(render(kept, target="kafka:9092", interval=2))
    frame = out.getvalue()
    assert "payment-succeeded" in frame and "4.0" in frame
    assert "booking-service.payment-succeeded" in frame
    assert "card_on_file" in frame and " 8 " in frame
    assert "charge-requested.dlq" in frame
    assert "1 new dead letter on charge-requested.dlq" in frame
