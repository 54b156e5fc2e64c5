"""What the stub server itself saw of each request: the truth a client's latencies are checked against.

Times are the server's `time.perf_counter()` (CLOCK_MONOTONIC on Linux, one clock for every
process on the machine): `read_s` when the request's head and body had been read, `first_token_s`
and `last_token_s` when the first and the last token's bytes were handed to the socket. So
`ttft_ms`/`e2el_ms` here are the server's own share of a request, and a client's TTFT minus
the truth's is what the client (and the loopback) added.

Records are keyed by the `x-request-id` the client sent (ours and vLLM's benchmark both send
one; a client that sends none is matched by `order`, the arrival order). The log keeps the
latest `capacity` requests, so a long-running stub cannot grow without bound.
"""

from __future__ import annotations

import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx

# The x-request-id of the request a connection handler is serving (one task per connection).
REQUEST_ID: ContextVar[str | None] = ContextVar("stub_request_id", default=None)


@dataclass(slots=True)
class RequestTruth:
    order: int
    request_id: str | None
    model: str
    read_s: float
    status: int = 200
    tokens: int = 0
    first_token_s: float | None = None
    last_token_s: float | None = None

    def token_written(self) -> None:
        ts = time.perf_counter()
        if self.first_token_s is None:
            self.first_token_s = ts
        self.last_token_s = ts
        self.tokens += 1

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_token_s is None else (self.first_token_s - self.read_s) * 1000.0

    @property
    def e2el_ms(self) -> float | None:
        return None if self.last_token_s is None else (self.last_token_s - self.read_s) * 1000.0

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "request_id": self.request_id, "model": self.model, "status": self.status,
                "tokens": self.tokens, "read_s": self.read_s, "first_token_s": self.first_token_s,
                "last_token_s": self.last_token_s, "ttft_ms": self.ttft_ms, "e2el_ms": self.e2el_ms}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestTruth:
        return cls(d["order"], d["request_id"], d["model"], d["read_s"], d["status"], d["tokens"],
                   d["first_token_s"], d["last_token_s"])


class TruthLog:
    def __init__(self, capacity: int = 100_000) -> None:
        self._records: deque[RequestTruth] = deque(maxlen=capacity)
        self._arrived = 0

    def arrive(self, model: str, read_s: float) -> RequestTruth:
        """A completion request has been read; the record the handler fills in as it answers."""
        rec = RequestTruth(self._arrived, REQUEST_ID.get(), model, read_s)
        self._arrived += 1
        self._records.append(rec)
        return rec

    def to_dict(self) -> dict[str, Any]:
        return {"clock": "perf_counter", "arrived": self._arrived, "requests": [r.to_dict() for r in self._records]}


def fetch_truth(base_url: str) -> dict[str, RequestTruth]:
    """`GET /truth` of a running stub, by request id (requests sent without one: `#<order>`)."""
    resp = httpx.get(base_url.rstrip("/") + "/truth", timeout=60)
    resp.raise_for_status()
    recs = (RequestTruth.from_dict(d) for d in resp.json()["requests"])
    return {r.request_id or f"#{r.order}": r for r in recs}
