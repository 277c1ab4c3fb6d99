"""An SMTP server that accepts every message and lets people and tests read them over HTTP.

    python -m bookpay_devstack.smtp_sink --smtp-port 1025 --api-port 1080 --dir DIR

Each message is kept in memory and written to DIR as `<id>.eml` (the message as received) plus
`<id>.json` (its envelope), so a restarted sink with the same DIR lists earlier messages again.
Any AUTH credentials are accepted, without TLS.

HTTP API (JSON):
    GET    /messages[?to=ADDRESS]  messages in order received: id, mail_from, rcpt_tos, subject,
                                   received_at, text, html, raw
    GET    /messages/{id}          one message
    DELETE /messages               forget every message (the files stay on disk)
    GET    /faults                 {"mode": ...}
    POST   /faults {"mode": M}     "none"; "tempfail" answers 451 to RCPT and DATA; "permfail" 550
    GET    /health                 {"status": "ok"}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import logging
import signal
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

log = logging.getLogger("smtp_sink")

FAULT_REPLIES: dict[str, str | None] = {
    "none": None,
    "tempfail": "451 4.3.0 Temporary failure (fault injected by the sink)",
    "permfail": "550 5.7.1 Message rejected (fault injected by the sink)",
}


@dataclass(frozen=True)
class MessageInfo:
    id: str
    mail_from: str
    rcpt_tos: list[str]
    received_at: str


@dataclass(frozen=True)
class StoredMessage:
    envelope: MessageInfo
    raw: bytes

    def to_json(self) -> dict[str, Any]:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return {
            **asdict(self.envelope),
            "subject": str(parsed.get("Subject", "")),
            "text": _body(parsed, "plain"),
            "html": _body(parsed, "html"),
            "raw": self.raw.decode("utf-8", errors="replace"),
        }


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


class MessageStore:
    """Messages in memory and on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.messages: list[StoredMessage] = []
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        for meta in sorted(self.directory.glob("*.json")):
            eml = meta.with_suffix(".eml")
            if eml.is_file():
                envelope = MessageInfo(**json.loads(meta.read_text()))
                self.messages.append(StoredMessage(envelope, eml.read_bytes()))

    def add(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> StoredMessage:
        now = datetime.now(UTC)
        message_id = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        envelope = MessageInfo(message_id, mail_from, list(rcpt_tos), now.isoformat())
        message = StoredMessage(envelope, raw)
        (self.directory / f"{message_id}.eml").write_bytes(raw)
        (self.directory / f"{message_id}.json").write_text(json.dumps(asdict(envelope)))
        self.messages.append(message)
        return message

    def clear(self) -> int:
        count = len(self.messages)
        self.messages.clear()
        return count


class SinkHandler:
    """aiosmtpd handler: stores every message unless a fault mode is set."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.fault_mode = "none"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        fault = FAULT_REPLIES[self.fault_mode]
        if fault is not None:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = FAULT_REPLIES[self.fault_mode]
        if fault is not None:
            return fault
        raw = envelope.original_content or b""
        message = self.store.add(envelope.mail_from or "", envelope.rcpt_tos, raw)
        log.info("received %s from %s to %s", message.envelope.id,
                 envelope.mail_from, ", ".join(envelope.rcpt_tos))  # fmt: skip
        return "250 Message accepted for delivery"


def _accept_any_login(*_: Any) -> AuthResult:
    return AuthResult(success=True)


def build_api(handler: SinkHandler) -> web.Application:
    store = handler.store

    def find(message_id: str) -> StoredMessage:
        for message in store.messages:
            if message.envelope.id == message_id:
                return message
        raise web.HTTPNotFound(text=json.dumps({"error": "no such message"}))

    async def list_messages(request: web.Request) -> web.Response:
        to = request.query.get("to")
        selected = [
            m.to_json() for m in store.messages
            if to is None or to.lower() in (r.lower() for r in m.envelope.rcpt_tos)
        ]  # fmt: skip
        return web.json_response(selected)

    async def get_message(request: web.Request) -> web.Response:
        return web.json_response(find(request.match_info["id"]).to_json())

    async def delete_messages(request: web.Request) -> web.Response:
        return web.json_response({"deleted": store.clear()})

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response({"mode": handler.fault_mode})

    async def set_faults(request: web.Request) -> web.Response:
        try:
            mode = (await request.json())["mode"]
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='expected {"mode": ...}') from None
        if mode not in FAULT_REPLIES:
            raise web.HTTPBadRequest(text=f"mode must be one of {sorted(FAULT_REPLIES)}")
        handler.fault_mode = mode
        log.info("fault mode: %s", mode)
        return web.json_response({"mode": mode})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/messages", list_messages)
    app.router.add_get("/messages/{id}", get_message)
    app.router.add_delete("/messages", delete_messages)
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", set_faults)
    app.router.add_get("/health", health)
    return app


async def serve(host: str, smtp_port: int, api_port: int, directory: Path) -> None:
    """Run the SMTP server and the HTTP API until SIGTERM or SIGINT."""
    handler = SinkHandler(MessageStore(directory))
    loop = asyncio.get_running_loop()
    smtp_server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="bookpay-smtp-sink",
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            authenticator=_accept_any_login,
        ),
        host=host,
        port=smtp_port,
    )
    runner = web.AppRunner(build_api(handler), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, api_port).start()
    log.info("SMTP on %s:%d, HTTP API on http://%s:%d, messages in %s",
             host, smtp_port, host, api_port, directory)  # fmt: skip

    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        smtp_server.close()
        with contextlib.suppress(Exception):
            await smtp_server.wait_closed()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink with an HTTP API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--api-port", type=int, default=1080)
    parser.add_argument("--dir", type=Path, required=True, help="where messages are written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
    asyncio.run(serve(args.host, args.smtp_port, args.api_port, args.dir))


if __name__ == "__main__":
    main()
