"""`bookpay-ops charges`: an account's charges over a recent window, counted by status and by
method, with the newest failures and why they failed: the charges list of charge-service,
read page by page.

`summarize` is the whole computation, on charges already read; the live dashboard uses it on
its own refreshes.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from bookpay_shared.money import format_amount
from rich.console import Console, Group
from rich.table import Table

from bookpay_ops.config import Target
from bookpay_ops.services import ChargeSummary, ServiceProblem, StaffApi

STATUSES = ("requested", "processing", "awaiting_customer", "succeeded", "failed")
DEFAULT_SINCE = "15m"
NEWEST_FAILED = 5
MAX_CHARGES = 20_000
"""Charges read at most for one report (100 pages): a window busier than that is reported on
its newest charges, and says so."""

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1d`: a window that ends now. Anything else is refused."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h or 1d")
    amount, unit = match.groups()
    span = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
    if not span:
        raise ValueError("the window must be longer than 0")
    return span


@dataclass(frozen=True)
class FailedCharge:
    charge_id: uuid.UUID
    customer_id: uuid.UUID
    created_at: datetime
    amount: int
    currency: str
    method: str
    reason: str | None
    message: str | None
    decline_code: str | None


@dataclass(frozen=True)
class ChargesReport:
    account_id: uuid.UUID
    created_from: datetime
    created_to: datetime
    total: int
    by_status: dict[str, int]
    by_method: dict[str, int]
    by_status_and_method: dict[str, dict[str, int]]
    newest_failed: list[FailedCharge] = field(default_factory=list)
    truncated: bool = False
    """True when the window held more than the report reads (it covers the newest)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": str(self.account_id),
            "created_from": self.created_from.isoformat(),
            "created_to": self.created_to.isoformat(),
            "total": self.total,
            "by_status": self.by_status,
            "by_method": self.by_method,
            "by_status_and_method": self.by_status_and_method,
            "newest_failed": [
                {
                    "charge_id": str(f.charge_id),
                    "customer_id": str(f.customer_id),
                    "created_at": f.created_at.isoformat(),
                    "amount": f.amount,
                    "currency": f.currency,
                    "method": f.method,
                    "reason": f.reason,
                    "message": f.message,
                    "decline_code": f.decline_code,
                }
                for f in self.newest_failed
            ],
            "truncated": self.truncated,
        }


def summarize(
    account_id: uuid.UUID,
    charges: Sequence[ChargeSummary],
    created_from: datetime,
    created_to: datetime,
    *,
    truncated: bool = False,
    newest_failed: int = NEWEST_FAILED,
) -> ChargesReport:
    """Counts of `charges` (newest first, as the list gives them) by status, by method and
    by both, and the newest `newest_failed` failed ones with their reasons."""
    by_both: dict[str, Counter[str]] = {}
    for c in charges:
        by_both.setdefault(c.status, Counter())[c.method] += 1
    failed = [c for c in charges if c.status == "failed"][:newest_failed]
    return ChargesReport(
        account_id=account_id,
        created_from=created_from,
        created_to=created_to,
        total=len(charges),
        by_status=dict(Counter(c.status for c in charges).most_common()),
        by_method=dict(Counter(c.method for c in charges).most_common()),
        by_status_and_method={s: dict(m.most_common()) for s, m in sorted(by_both.items())},
        newest_failed=[_failed(c) for c in failed],
        truncated=truncated,
    )


def _failed(c: ChargeSummary) -> FailedCharge:
    f = c.failure
    return FailedCharge(
        charge_id=c.charge_id,
        customer_id=c.customer_id,
        created_at=c.created_at,
        amount=c.amount,
        currency=c.currency,
        method=c.method,
        reason=f.reason if f else None,
        message=f.message if f else None,
        decline_code=f.decline_code if f else None,
    )


async def read_report(
    api: StaffApi,
    account_id: uuid.UUID,
    *,
    since: timedelta,
    statuses: Sequence[str] = (),
    now: datetime | None = None,
    max_charges: int = MAX_CHARGES,
) -> ChargesReport:
    """The report of the account's charges made in the `since` before `now`."""
    created_to = now or datetime.now(UTC)
    created_from = created_to - since
    found: list[ChargeSummary] = []
    truncated = False
    pages = api.charges(
        account_id, statuses=statuses, created_from=created_from, created_to=created_to
    )
    async for charge in pages:
        if len(found) == max_charges:
            truncated = True
            break
        found.append(charge)
    return summarize(account_id, found, created_from, created_to, truncated=truncated)


def render(report: ChargesReport) -> Group:
    window = f"{report.created_from:%Y-%m-%d %H:%M:%S} to {report.created_to:%H:%M:%S} UTC"
    counts = Table(title=f"{report.total} charges, {window}")
    methods = sorted(report.by_method)
    counts.add_column("status")
    for method in methods:
        counts.add_column(method, justify="right")
    counts.add_column("all", justify="right")
    for status, by_method in report.by_status_and_method.items():
        counts.add_row(
            status,
            *(str(by_method.get(m, 0)) for m in methods),
            str(report.by_status[status]),
        )
    failed = Table(title=f"Newest failed ({len(report.newest_failed)})")
    for column in ("created", "charge", "amount", "method", "reason", "message"):
        failed.add_column(column)
    for f in report.newest_failed:
        failed.add_row(
            f"{f.created_at:%H:%M:%S}",
            str(f.charge_id),
            format_amount(f.amount, f.currency),
            f.method,
            (f.reason or "") + (f" ({f.decline_code})" if f.decline_code else ""),
            f.message or "",
        )
    parts: list[Any] = [counts, failed]
    if report.truncated:
        parts.append(f"[yellow]only the newest {report.total} charges of the window are shown[/]")
    return Group(*parts)


AccountOption = Annotated[str, typer.Option("--account", help="the account's id")]
StatusOption = Annotated[
    list[str] | None,
    typer.Option("--status", help=f"only charges in this status (repeat for several): {STATUSES}"),
]
SinceOption = Annotated[
    str, typer.Option("--since", help="the window, ending now: 90s, 15m, 2h, 1d")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def charges_command(
    ctx: typer.Context,
    account: AccountOption,
    status: StatusOption = None,
    since: SinceOption = DEFAULT_SINCE,
    as_json_: JsonOption = False,
) -> None:
    """An account's charges over a recent window: counts by status and method, and the newest
    failed ones with their reasons."""
    target: Target = ctx.obj
    try:
        account_id = uuid.UUID(account)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{account!r} is not an account id", param_hint="--account"
        ) from exc
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    unknown = sorted(set(status or ()) - set(STATUSES))
    if unknown:
        raise typer.BadParameter(
            f"unknown status {', '.join(unknown)}; one of {', '.join(STATUSES)}",
            param_hint="--status",
        )
    try:
        report = asyncio.run(_read(target, account_id, window, status or []))
    except ServiceProblem as exc:
        typer.echo(f"bookpay-ops: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json_:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        Console().print(render(report))


async def _read(
    target: Target, account_id: uuid.UUID, since: timedelta, statuses: list[str]
) -> ChargesReport:
    urls = {"charge-service": target.url("charge-service")}
    async with StaffApi(urls, target.platform_key) as api:
        return await read_report(api, account_id, since=since, statuses=statuses)
