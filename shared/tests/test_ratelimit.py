from bookpay_shared.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_refill_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=2.0, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.allow("a") == 0.5
    clock.now += 0.5
    assert limiter.allow("a") == 0.0
    assert limiter.allow("a") > 0


def test_each_client_has_its_own_bucket() -> None:
    limiter = RateLimiter(per_second=1.0, burst=1, clock=Clock())
    assert limiter.allow("a") == 0.0
    assert limiter.allow("a") > 0
    assert limiter.allow("b") == 0.0


def test_idle_clients_are_forgotten_when_the_table_is_full() -> None:
    clock = Clock()
    limiter = RateLimiter(per_second=1.0, burst=2, clock=clock, max_clients=2)
    limiter.allow("a")
    limiter.allow("b")
    clock.now += 10
    assert limiter.allow("c") == 0.0
    assert limiter.allow("a") == 0.0
    assert limiter.allow("a") == 0.0
