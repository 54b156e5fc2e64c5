"""uvicorn's httptools protocol with limits on the request head (RFC 6585's 431).

Stock uvicorn on httptools accepts a request line or header of any size and buffers it
whole (a 32 MB header cost ~65 MB), and the app then handles that URL. Here the URL is
checked as it is parsed, the header block when it is complete, and the bytes of a head
still incomplete after each read, so memory stays bounded by the limit plus one read.
A refused head gets an OpenAI-shaped 431 (and a head uvicorn cannot parse an OpenAI-shaped
400 rather than its plain-text one); the connection is closed after a short linger (the rest
of what the client sends is read and dropped, so it sees the answer, not a reset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

_LINGER_S = 1.0


class _HeadTooLarge(Exception):
    pass


def head_limited_protocol(max_request_line_bytes: int, max_header_bytes: int,
                          on_refused: Callable[[str, bytes], None] | None = None) -> type:
    """A protocol class for `uvicorn.Config(http=...)`. `on_refused(reason, url_prefix)` is
    told of each refused head (the gateway logs and counts it). Long because it is one class
    body: the subclass closes over the limits."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    head_limit = max_request_line_bytes + max_header_bytes

    class HeadLimitedProtocol(HttpToolsProtocol):  # type: ignore[misc]
        _head_open = True
        _head_read = 0
        _header_bytes = 0
        _refused: str | None = None

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_open, self._head_read, self._header_bytes = True, 0, 0

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            if len(self.url) > max_request_line_bytes:
                self._refused = f"request line longer than {max_request_line_bytes} bytes"
                raise _HeadTooLarge(self._refused)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_bytes += len(name) + len(value) + 4
            if self._header_bytes > max_header_bytes:
                self._refused = f"request headers larger than {max_header_bytes} bytes"
                raise _HeadTooLarge(self._refused)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head_open = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._refused is not None:
                return  # lingering: read and drop
            super().data_received(data)  # a callback's _HeadTooLarge ends in send_400_response below
            if self._refused is None and self._head_open and not self.transport.is_closing():
                self._head_read += len(data)
                if self._head_read > head_limit:  # one header still arriving, or many small reads
                    self._refused = f"request head larger than {head_limit} bytes"
                    self._send_431()

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to a request it cannot parse, in OpenAI's error shape like the rest."""
            if self._refused is None:
                self._refused = msg
                self._answer(400, b"Bad Request", "malformed HTTP request: " + msg.rstrip("."), "invalid_http_request")
            else:
                self._send_431()

        def _send_431(self) -> None:
            reason = self._refused or "request head too large"
            if on_refused is not None:
                on_refused(reason, bytes(getattr(self, "url", b"")[:512]))
            self._answer(431, b"Request Header Fields Too Large",
                         f"{reason}: send a shorter URL or fewer/smaller headers", "request_header_fields_too_large")

        def _answer(self, status: int, phrase: bytes, message: str, code: str) -> None:
            body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                           "code": code}})
            head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            self.transport.write(head % (status, phrase, len(body)) + body)
            transport: Any = self.transport
            if transport.can_write_eof():
                transport.write_eof()
                self.loop.call_later(_LINGER_S, transport.close)
            else:
                transport.close()

    return HeadLimitedProtocol
