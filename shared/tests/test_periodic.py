"""A periodic task runs its step again after each run, and a failing run does not stop it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

import pytest
from bookpay_shared.runtime import run_periodically


async def runs_of(step_body: list[Exception | None], every_seconds: float) -> list[float]:
    """Run a periodic task whose n-th run raises `step_body[n]` (or not), until every run
    happened; the moments the runs started."""
    started: list[float] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def step() -> None:
        started.append(loop.time())
        if len(started) == len(step_body):
            done.set()
        if failure := step_body[len(started) - 1]:
            raise failure

    task = asyncio.create_task(run_periodically("sweep", step, every_seconds))
    await asyncio.wait_for(done.wait(), timeout=5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
    return started


async def test_a_failing_run_is_logged_and_the_next_comes_on_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = await runs_of([None, RuntimeError("the database went away"), None, None], 0.01)

    assert len(started) == 4
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["sweep failed; next run in 0 s"]
    assert failures[0].exc_info is not None


async def test_runs_are_spaced_by_the_interval() -> None:
    started = await runs_of([None, None, None], 0.05)

    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.045 for gap in gaps), gaps
