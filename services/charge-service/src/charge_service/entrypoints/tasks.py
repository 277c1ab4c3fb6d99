"""charge-service's periodic tasks: the reconciliation sweep, run on a timer in a unit of work of
its own on the service's pool (see usecases/reconcile.py for what it looks at)."""

from __future__ import annotations

from bookpay_shared.runtime import ServiceRuntime

from charge_service.adapters.postgres_unit_of_work import PostgresUnitOfWork
from charge_service.usecases import reconcile
from charge_service.usecases.deps import Deps


def register(
    runtime: ServiceRuntime, deps: Deps, *, idle_seconds: float, every_seconds: float
) -> None:
    runtime.add_periodic_task(
        "reconcile_charges",
        lambda: reconcile.sweep_once(
            deps, PostgresUnitOfWork(runtime.db), idle_seconds=idle_seconds
        ),
        every_seconds=every_seconds,
    )
