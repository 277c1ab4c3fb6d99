import math
import random

import pytest
from bookpay_shared.backoff import Backoff


def test_each_wait_doubles_the_one_before() -> None:
    backoff = Backoff(base=0.5)
    assert [backoff.delay(attempt) for attempt in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_no_wait_is_longer_than_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=15.0)
    assert [backoff.delay(attempt) for attempt in (4, 5, 6, 1000)] == [8.0, 15.0, 15.0, 15.0]


def test_a_huge_attempt_number_reaches_the_cap_without_overflowing() -> None:
    assert Backoff(base=2.0, cap=600.0).delay(10**9) == 600.0
    assert Backoff(base=0.001).delay(10**9) < math.inf


def test_a_zero_base_never_waits() -> None:
    assert {Backoff(base=0.0, cap=15.0).delay(attempt) for attempt in range(1, 50)} == {0.0}


def test_delays_counts_the_attempts_from_one() -> None:
    waits = Backoff(base=0.05, cap=0.5).delays()
    assert [next(waits) for _ in range(6)] == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]


def test_jitter_takes_a_random_part_off_each_wait_but_never_more_than_its_fraction() -> None:
    backoff = Backoff(base=1.0, cap=8.0, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(1, 40):
        plain = Backoff(base=1.0, cap=8.0).delay(attempt)
        waits = {backoff.delay(attempt, rng) for _ in range(20)}
        assert all(0.75 * plain <= wait <= plain for wait in waits)
        assert len(waits) > 1


def test_full_jitter_can_wait_anywhere_between_nothing_and_the_delay() -> None:
    rng = random.Random(3)
    waits = [Backoff(base=10.0, jitter=1.0).delay(1, rng) for _ in range(200)]
    assert min(waits) < 1.0
    assert max(waits) > 9.0


def test_the_same_seed_gives_the_same_waits() -> None:
    backoff = Backoff(base=0.2, cap=15.0, jitter=0.5)
    first = backoff.delays(random.Random(42))
    second = backoff.delays(random.Random(42))
    assert [next(first) for _ in range(10)] == [next(second) for _ in range(10)]


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"base": -1.0}, "base must be 0 or more"),
        ({"base": math.nan}, "base must be 0 or more"),
        ({"base": 1.0, "cap": -1.0}, "cap must be 0 or more"),
        ({"base": 1.0, "jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"base": 1.0, "jitter": -0.1}, "jitter must be between 0 and 1"),
    ],
)
def test_a_backoff_that_makes_no_sense_is_refused_with_the_reason(
    fields: dict[str, float], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        Backoff(**fields)


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="counted from 1"):
        Backoff(base=1.0).delay(0)
