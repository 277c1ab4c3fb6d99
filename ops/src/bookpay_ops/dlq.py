"""`bookpay-ops dlq list|show|replay|replays`: read the dead letters, fix and send them back to
their topics, and keep the record of every replay in `dlq-replays`.

Each dead letter goes back to its original topic with its key, its value (or the operator's
repaired one) and its original headers; its replay is then recorded in the compacted topic
`dlq-replays`, keyed by the dead letter's id. That record is read before every replay: a dead
letter replayed once is skipped unless `--again`. The Kafka side is in `dlq_kafka`, the
decisions in `dead_letters`, the printing in `dlq_render`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from bookpay_shared.kafka import KafkaConnection
from bookpay_shared.topics import DLQ_REPLAYS
from rich.console import Console

from bookpay_ops import dlq_render as render
from bookpay_ops.config import Target
from bookpay_ops.dead_letters import (
    BadDeadLetterId,
    BadReplacement,
    DeadLetter,
    DeadLetterId,
    Plan,
    Replay,
    replacement_value,
    replays_by_dead_letter,
    select,
)
from bookpay_ops.dlq_kafka import (
    Choice,
    DlqProblem,
    default_operator,
    dlq_topics,
    missing_replays,
    prepare,
    read_letters,
    read_one,
    read_replays,
    send_replays,
)
from bookpay_ops.kafka_view import KafkaUnreachable, KafkaView

# --- commands -------------------------------------------------------------------------------

dlq_app = typer.Typer(
    name="dlq",
    help="Dead letters: list, show, replay (once, recorded in dlq-replays), and the replays.",
    no_args_is_help=True,
)

TopicOption = Annotated[
    str | None,
    typer.Option("--topic", help="one topic's dead letters (charge-requested or its .dlq)"),
]
ConsumerOption = Annotated[
    str | None,
    typer.Option("--consumer", help="only those of one consumer group (dlq.consumer)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


ReplayIds = Annotated[
    list[str] | None,
    typer.Argument(help="dead letter ids, <topic>.dlq:<partition>:<offset>", show_default=False),
]
AllOption = Annotated[bool, typer.Option("--all", help="every dead letter (filters apply)")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason-contains", help="only those whose reason holds TEXT")
]
ValueFileOption = Annotated[
    Path | None,
    typer.Option(
        "--value-file",
        help="replace the value with this file's JSON (a repaired message; one id only)",
        dir_okay=False,
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="no confirmation for several")]
AgainOption = Annotated[
    bool, typer.Option("--again", help="replay even a dead letter that was replayed already")
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="who replays, for the record (default: user@host)"),
]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"bookpay-ops: {exc}", err=True)
    return typer.Exit(1)


def _connection(ctx: typer.Context) -> KafkaConnection:
    target: Target = ctx.obj
    return target.kafka


@dlq_app.command("list")
def list_command(
    ctx: typer.Context,
    topic: TopicOption = None,
    consumer: ConsumerOption = None,
    as_json_: JsonOption = False,
) -> None:
    """Every retained dead letter (of all *.dlq topics or one): where it came from, which
    consumer refused it, when and why, its event, and whether it was replayed."""

    async def read() -> tuple[list[DeadLetter], list[str], list[Replay] | None]:
        async with KafkaView(_connection(ctx)) as kafka:
            topics = await dlq_topics(kafka, topic)
            letters = select(await read_letters(kafka, topics), consumer=consumer)
            return letters, topics, await read_replays(kafka)

    try:
        letters, topics, replays = asyncio.run(read())
    except (KafkaUnreachable, DlqProblem) as exc:
        raise _fail(exc) from exc
    if replays is None:
        typer.echo(f"bookpay-ops: no topic {DLQ_REPLAYS}: replays unknown", err=True)
    by_letter = replays_by_dead_letter(replays or [])
    if as_json_:
        typer.echo(render.list_json(letters, topics, by_letter))
    else:
        Console().print(render.list_table(letters, topics, by_letter))


@dlq_app.command("show")
def show_command(ctx: typer.Context, dead_letter: str, as_json_: JsonOption = False) -> None:
    """Everything about one dead letter: headers, key, the full reason, the value (as JSON
    when it is), and its replays."""
    letter_id = _parse_id(dead_letter, "DEAD_LETTER")

    async def read() -> tuple[DeadLetter | None, list[Replay] | None]:
        async with KafkaView(_connection(ctx)) as kafka:
            return await read_one(kafka, letter_id), await read_replays(kafka)

    try:
        letter, replays = asyncio.run(read())
    except KafkaUnreachable as exc:
        raise _fail(exc) from exc
    if letter is None:
        raise _fail(DlqProblem(f"no dead letter {letter_id} (never written, or not retained)"))
    by_letter = replays_by_dead_letter(replays or [])
    if as_json_:
        typer.echo(render.show_json(letter, by_letter))
    else:
        Console(highlight=False).print(render.show_text(letter, by_letter), markup=False)


@dlq_app.command("replay")
def replay_command(
    ctx: typer.Context,
    ids: ReplayIds = None,
    topic: TopicOption = None,
    consumer: ConsumerOption = None,
    reason_contains: ReasonOption = None,
    all_: AllOption = False,
    value_file: ValueFileOption = None,
    yes: YesOption = False,
    again: AgainOption = False,
    by: ByOption = None,
    as_json_: JsonOption = False,
) -> None:
    """Send dead letters back to their original topics (same key, value and headers, plus
    replay.of/by/at) and record each replay in dlq-replays. A dead letter replayed before is
    skipped unless --again. Exit code 1 when any replay failed."""
    choice = _choice(ids or [], topic, consumer, reason_contains, all_)
    value = _replacement(value_file, choice)
    operator = by or default_operator()

    async def decide() -> tuple[Plan, list[DeadLetterId]]:
        async with KafkaView(_connection(ctx)) as kafka:
            return await prepare(kafka, choice, again)

    try:
        decided, missing = asyncio.run(decide())
        if len(decided.send) > 1 and not yes:
            for letter in decided.send:
                typer.echo(f"  {letter.id} -> {letter.original_topic}", err=True)
            typer.confirm(f"Replay these {len(decided.send)} dead letters?", abort=True, err=True)
        done, failed = asyncio.run(
            send_replays(_connection(ctx), decided.send, by=operator, value=value)
        )
    except (KafkaUnreachable, DlqProblem) as exc:
        raise _fail(exc) from exc
    failed = {
        **{i: "no such dead letter (never written, or not retained)" for i in missing},
        **failed,
    }
    if as_json_:
        typer.echo(render.outcome_json(decided, done, failed))
    else:
        typer.echo(render.outcome_text(decided, done, failed))
    raise typer.Exit(1 if failed else 0)


@dlq_app.command("replays")
def replays_command(ctx: typer.Context, as_json_: JsonOption = False) -> None:
    """The record of replays: which dead letter, by whom, when, and where it went."""

    async def read() -> list[Replay] | None:
        async with KafkaView(_connection(ctx)) as kafka:
            return await read_replays(kafka)

    try:
        replays = asyncio.run(read())
    except KafkaUnreachable as exc:
        raise _fail(exc) from exc
    if replays is None:
        raise _fail(missing_replays())
    if as_json_:
        typer.echo(render.replays_json(replays))
    else:
        Console().print(render.replays_table(replays))


def _parse_id(text: str, hint: str) -> DeadLetterId:
    try:
        return DeadLetterId.parse(text)
    except BadDeadLetterId as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


def _choice(
    ids: list[str],
    topic: str | None,
    consumer: str | None,
    reason_contains: str | None,
    all_: bool,
) -> Choice:
    if sum((bool(ids), topic is not None, all_)) != 1:
        raise typer.BadParameter(
            "name the dead letters: ids, or --topic T, or --all (one of them)", param_hint="IDS"
        )
    if ids and (consumer is not None or reason_contains is not None):
        raise typer.BadParameter(
            "--consumer and --reason-contains filter --topic or --all, not ids",
            param_hint="--consumer/--reason-contains",
        )
    return Choice([_parse_id(i, "IDS") for i in ids], topic, consumer, reason_contains)


def _replacement(value_file: Path | None, choice: Choice) -> bytes | None:
    if value_file is None:
        return None
    if len(set(choice.ids)) != 1:
        raise typer.BadParameter("--value-file replaces one dead letter's value: give one id")
    try:
        raw = value_file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {value_file}: {exc.strerror}") from exc
    try:
        return replacement_value(raw, str(value_file))
    except BadReplacement as exc:
        raise typer.BadParameter(str(exc), param_hint="--value-file") from exc
