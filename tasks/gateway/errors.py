"""OpenAI-shaped error bodies, and the bound on client-chosen text the gateway repeats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from fastapi.responses import Response

JSON = "application/json"
MAX_LOGGED_CHARS = 512  # of a client-chosen string (path) in a log line: what redaction ever sees of it

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body grew past `max_body_bytes` while it was read."""


def bounded(text: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """`text` cut to `limit` chars with a marker that says how much was dropped."""
    return text if len(text) <= limit else f"{text[:limit]}...[{len(text) - limit} more chars]"


def error_body(status: int, message: str, type_: str, code: str | int | None = None, param: str | None = None) -> bytes:
    """OpenAI's error shape."""
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param,
                                   "code": code if code is not None else status}})


def error_response(status: int, message: str, type_: str, code: str | int | None = None,
                   param: str | None = None) -> Response:
    return Response(error_body(status, message, type_, code, param), status_code=status, media_type=JSON)


async def send_plain(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole JSON response straight on the ASGI channel (refusals before any route runs)."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode()),
                            *(headers or ())]})
    await send({"type": "http.response.body", "body": body})
