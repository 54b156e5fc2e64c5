"""The gateway's upstream on aiohttp's client, with the interface and errors of
tasks/http/upstream.py: the candidate bench/gateway_overhead.py (`--upstreams`) measures
against the hand-written client (`create_app(..., upstream=...)` takes either). It lost
(numbers in tasks/http/upstream.py), so it lives here, not in the product. Unlike the
hand-written client it does not retry a POST on a keep-alive connection the server closed
(aiohttp retries idempotent methods only).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from tasks.http.upstream import (UpstreamBusy, UpstreamConnectError, UpstreamError, UpstreamProtocolError,
                                 UpstreamTimeout)


class AiohttpUpstreamResponse:
    def __init__(self, pool: AiohttpUpstreamPool, resp: aiohttp.ClientResponse) -> None:
        self._pool, self._resp = pool, resp
        self.status_code = resp.status
        self.headers: Any = resp.headers  # case-insensitive
        self._done = False
        self._released = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        base = self._pool.base_url
        try:
            async for piece in self._resp.content.iter_any():
                yield piece
        except asyncio.TimeoutError as exc:
            raise UpstreamTimeout(f"no data from {base} for {self._pool.read_timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProtocolError(f"{base} closed the connection mid-response") from exc
        self._done = True
        await self.aclose()

    async def aread(self) -> bytes:
        return b"".join([piece async for piece in self.aiter_raw()])

    async def aclose(self) -> None:
        """Back to the pool when read to the end; otherwise closed, so the server sees the request cancelled."""
        if self._released:
            return
        self._released = True
        self._pool._in_use -= 1
        if self._done:
            self._resp.release()
        else:
            self._resp.close()


class AiohttpUpstreamPool:
    def __init__(self, base_url: str, *, connect_timeout_s: float, read_timeout_s: float, max_connections: int,
                 idle_timeout_s: float = 4.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.max_connections = max_connections
        self._idle_timeout_s = idle_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._in_use = 0

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use: a session belongs to the running loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=self._idle_timeout_s),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s,
                                              sock_read=self.read_timeout_s),
                auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return self._session

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout_s: float | None = None) -> AiohttpUpstreamResponse:
        if self._in_use >= self.max_connections:
            raise UpstreamBusy(f"all {self.max_connections} connections to {self.base_url} are busy")
        extra: dict[str, Any] = {}
        if timeout_s is not None:
            extra["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s,
                                                     sock_read=timeout_s)
        self._in_use += 1
        try:
            resp = await self._client().request(method, self.base_url + path, data=body or None, headers=headers,
                                                **extra)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._in_use -= 1
            raise _upstream_error(exc, self.base_url, self.connect_timeout_s) from exc
        except BaseException:
            self._in_use -= 1
            raise
        return AiohttpUpstreamResponse(self, resp)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _upstream_error(exc: Exception, base: str, connect_timeout_s: float) -> UpstreamError:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout(f"could not connect to {base} within {connect_timeout_s:g} s")
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"{base} sent no response in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamConnectError(f"the backend {base} is unreachable: {exc.os_error.strerror or exc}")
    return UpstreamProtocolError(f"{base} closed the connection without a response: {exc}")
