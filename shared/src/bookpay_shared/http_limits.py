"""Limits on a request's head (its URL and headers), answered as HTTP, not by a dropped
connection.

uvicorn's httptools protocol keeps a URL and headers of any length in memory, and answers a
request line its parser gives up on with a bare 400, closing the socket while the client is
still sending: the client then mostly sees a connection reset, not the answer. Here a URL longer
than `MAX_URL_BYTES` (8 KiB, what common proxies accept) is answered `414 URI Too Long`, headers
longer than `MAX_HEADER_BYTES` in all `431 Request Header Fields Too Large`, with the errors'
usual JSON body. The answer is sent as soon as the limit is passed; the connection is then
half-closed and whatever the client still sends is read and dropped (for a while, up to a
size), so that the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_URL_BYTES = 8 * 1024
"""The longest request target (path and query) served."""
MAX_HEADER_BYTES = 32 * 1024
"""The most header bytes (names and values, all headers together) served."""
MAX_HEAD_BYTES = 2 * MAX_HEADER_BYTES
"""Bytes received without the head coming to an end: a header still being received counts
only once it is complete, so this bounds what a single endless header can hold in memory."""
LINGER_SECONDS = 5.0
"""How long a refused request's remaining bytes are read and dropped before closing."""
LINGER_BYTES = 16 * 1024 * 1024
"""How many of them at most."""


_PHRASES = {
    # RFC 9110's names (Python's HTTPStatus still says "Request-URI Too Long").
    HTTPStatus.REQUEST_URI_TOO_LONG: "URI Too Long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "Request Header Fields Too Large",
}


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; httptools passes it on wrapped."""


def refusal(status: HTTPStatus, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole response refusing a request whose head is too large."""
    code, message = {
        HTTPStatus.REQUEST_URI_TOO_LONG: (
            "uri_too_long",
            f"The request's URL is longer than {MAX_URL_BYTES} bytes.",
        ),
        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: (
            "headers_too_large",
            f"The request's headers are larger than {MAX_HEADER_BYTES} bytes.",
        ),
    }[status]
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = [f"HTTP/1.1 {status.value} {_PHRASES[status]}\r\n".encode()]
    head += [name + b": " + value + b"\r\n" for name, value in default_headers]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on the URL and the headers (see the module)."""

    _refused: HTTPStatus | None = None
    _reading_head = True
    _head_bytes = 0
    _header_bytes = 0
    _dropped = 0

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            self._drop(len(data))
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._refused is None and self._reading_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refused = HTTPStatus.REQUEST_URI_TOO_LONG
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refused = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        """The parser stopped: because a callback above refused the request, or for httptools'
        own reasons (a malformed request: uvicorn's 400)."""
        if self._refused is None:
            super().send_400_response(msg)
        else:
            self._refuse(self._refused)

    def _refuse(self, status: HTTPStatus) -> None:
        self._refused = status
        self.logger.info("request refused: %d %s", status.value, _PHRASES[status])
        self.transport.write(refusal(status, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)

    def _drop(self, size: int) -> None:
        self._dropped += size
        if self._dropped > LINGER_BYTES:
            self.transport.close()
