"""bookpay-ops: see and steer a running bookpay from a terminal.

[bold]Is anything stuck?[/] watch, lag, outbox.
[bold]What happened to charge X?[/] trace CHARGE_ID.
[bold]What is in the dead letters, can it be replayed?[/] dlq list | show | replay | replays.
[bold]How fast is each service going?[/] topics, watch.
[bold]What is on a topic?[/] tail TOPIC --follow.

Connection options go before the command; the defaults are `make run`'s stack.
Any deployment: its Kafka and service addresses and credentials, or BOOKPAY_* variables."""

from __future__ import annotations

import logging

import typer

from bookpay_ops.charges import charges_command
from bookpay_ops.config import (
    DEFAULT_URLS,
    DEV_PLATFORM_KEY,
    BookingUrl,
    BootstrapOption,
    ChargeUrl,
    LinkUrl,
    MechanismOption,
    NotificationUrl,
    PasswordOption,
    PlatformKeyOption,
    ProtocolOption,
    UsernameOption,
    build_target,
)
from bookpay_ops.dlq import dlq_app
from bookpay_ops.outbox import outbox_command
from bookpay_ops.streams import lag_command, topics_command
from bookpay_ops.tail import tail_command
from bookpay_ops.trace import trace_command
from bookpay_ops.watch import watch_command

app = typer.Typer(
    name="bookpay-ops",
    help=__doc__,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


@app.callback()
def connect(
    ctx: typer.Context,
    bootstrap_server: BootstrapOption = "127.0.0.1:9092",
    username: UsernameOption = "admin",
    password: PasswordOption = None,
    security_protocol: ProtocolOption = "SASL_PLAINTEXT",
    sasl_mechanism: MechanismOption = "PLAIN",
    booking_url: BookingUrl = DEFAULT_URLS["booking-service"],
    charge_url: ChargeUrl = DEFAULT_URLS["charge-service"],
    link_url: LinkUrl = DEFAULT_URLS["link-service"],
    notification_url: NotificationUrl = DEFAULT_URLS["notification-service"],
    platform_key: PlatformKeyOption = DEV_PLATFORM_KEY,
) -> None:
    """Connection options come before the command: `bookpay-ops --bootstrap-server H:P lag`."""
    ctx.obj = build_target(
        bootstrap_server=bootstrap_server,
        username=username,
        password=password,
        security_protocol=security_protocol,
        sasl_mechanism=sasl_mechanism,
        booking_url=booking_url,
        charge_url=charge_url,
        link_url=link_url,
        notification_url=notification_url,
        platform_key=platform_key,
    )


@app.command()
def services(ctx: typer.Context) -> None:
    """Each service's staff URL, as this tool reaches it."""
    for name, url in ctx.obj.service_urls.items():
        typer.echo(f"{name:22} {url}")


app.command("topics")(topics_command)
app.command("lag")(lag_command)
app.command("outbox")(outbox_command)
app.command("charges")(charges_command)
app.command("watch")(watch_command)
app.command("tail")(tail_command)
app.command("trace")(trace_command)
app.add_typer(dlq_app, name="dlq")


def main() -> None:
    # aiokafka warns on every SASL PLAIN login over a plaintext listener (the dev stack's);
    # its errors still show.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    app()
