"""Server-sent events: one splitter for every reader of an OpenAI-style stream.

The gateway (relaying vLLM's stream) and the benchmark client (timing it) both cut the raw
bytes into events here, so they agree on what an event is. The rules are the SSE spec's
(https://html.spec.whatwg.org/multipage/server-sent-events.html): lines end in CRLF, LF or
CR, a blank line ends an event, `:` starts a comment, and an event's data is its `data:`
lines joined with LF. Bytes may be cut anywhere between reads, including inside a CRLF.

Events come out with their line endings turned into LF and without the blank line that
ended them (a relay re-adds `\\n\\n`); an empty event (from extra blank lines) is `b""`.
"""

from __future__ import annotations

DONE = b"[DONE]"  # OpenAI's end-of-stream data
EVENT_END = b"\n\n"  # the blank line that ends an event, as a relay writes it


def data_event(data: bytes) -> bytes:
    """One event carrying `data` (a single line: JSON has no raw newlines)."""
    return b"data: " + data + EVENT_END


class SSESplitter:
    """Feed raw bytes as they arrive; get back the events they complete.

    Cheap when nothing completes (one memchr per piece), since most reads of a token stream
    carry one event or less."""

    __slots__ = ("_buf", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the last piece ended in CR: an LF opening the next one is its CRLF's

    def feed(self, piece: bytes) -> list[bytes]:
        if self._skip_lf:
            self._skip_lf = False
            if piece.startswith(b"\n"):
                piece = piece[1:]
        if b"\r" in piece:
            self._skip_lf = piece.endswith(b"\r")
            piece = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + piece if self._buf else piece
        if EVENT_END not in buf:
            self._buf = buf
            return []
        *events, self._buf = buf.split(EVENT_END)
        return events

    @property
    def tail(self) -> bytes:
        """What came after the last complete event (a stream cut off before its blank line)."""
        return self._buf


def event_data(event: bytes) -> bytes | None:
    """An event's data (its `data:` lines joined with LF, one leading space dropped from
    each); None when it has no data line (a comment, or only `event:`/`id:` fields)."""
    if event.startswith(b"data:") and b"\n" not in event:  # the usual one-line event
        return _value(event[5:])
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            parts.append(_value(line[5:]))
        elif line == b"data":  # a field name alone means an empty value
            parts.append(b"")
    return b"\n".join(parts) if parts else None


def is_done(data: bytes | None) -> bool:
    """Whether an event's data is the `[DONE]` marker."""
    return data is not None and data.strip() == DONE


def _value(raw: bytes) -> bytes:
    return raw[1:] if raw.startswith(b" ") else raw
