"""A lean HTTP/1.1 keep-alive client for the gateway's one upstream (vLLM).

Why hand-written: per proxied request httpx/httpcore cost ~1 ms of CPU on our machines
(pool bookkeeping scans every pooled connection, anyio layers per read), which alone broke
the gateway's overhead budget (added p50 <= 1 ms, throughput loss <= 5%). aiohttp's client
(bench/_aiohttp_upstream.py) was measured against this one in one run of
`bench/gateway_overhead.py --rounds 5` (2 cores): added p50 TTFT/E2EL +0.85/+0.81 ms vs
+0.59/+0.46 ms here, non-streaming added +0.61 vs +0.44 ms, throughput loss at 16 in flight
3.9% vs 2.5%, at 32 in flight 5.9% (misses the 5% target) vs 2.6%; and it retries no POST
on a keep-alive connection the server closed. So the gateway keeps this client.

It does only what a proxy to one HTTP/1.1 server needs: keep-alive connections in a LIFO
stack (O(1) checkout; connections the server closed or idle longer than its keep-alive are
dropped, not sent on), Content-Length and chunked bodies, connect/read timeouts, and closing
a connection whose body was not read to the end (which is how a client disconnect cancels
the request in vLLM).

    UpstreamError
    ├── UpstreamConnectError   connection refused / reset before a response (-> 502)
    ├── UpstreamTimeout        no connection or no next byte in time (-> 504)
    ├── UpstreamBusy           max_connections all in use (-> 503)
    └── UpstreamProtocolError  the server broke HTTP/1.1 or closed mid-response (-> 502)
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit


class UpstreamError(Exception):
    status = 502
    kind = "bad_gateway"


class UpstreamConnectError(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout"


class UpstreamBusy(UpstreamError):
    status = 503
    kind = "service_unavailable"


class UpstreamProtocolError(UpstreamError):
    pass


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def close(self) -> None:
        self.writer.close()


class UpstreamResponse:
    def __init__(self, pool: UpstreamPool, conn: _Conn, status: int, headers: dict[str, str], head_only: bool) -> None:
        self._pool, self._conn = pool, conn
        self.status_code = status
        self.headers = headers
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        length = headers.get("content-length")
        self._remaining = int(length) if length is not None and not self._chunked else None
        self._keep = headers.get("connection", "").lower() != "close"
        self._done = head_only or self._remaining == 0 or status in (204, 304)
        self._released = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked transfer decoded). One timeout per response, re-armed
        before each read and disarmed while the caller holds a piece (cheaper than a timeout
        object per read, and the caller's own time never counts against the upstream)."""
        reader = self._conn.reader
        loop = asyncio.get_running_loop()
        limit = self._pool.read_timeout_s
        try:
            async with asyncio.timeout(None) as deadline:
                while not self._done:
                    deadline.reschedule(loop.time() + limit)
                    if self._chunked:
                        line = await reader.readuntil(b"\r\n")
                        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                pass  # trailers
                            self._done = True
                            break
                        data = (await reader.readexactly(size + 2))[:-2]
                    elif self._remaining is not None:
                        data = await reader.read(min(self._remaining, 65536))
                        if not data:
                            raise UpstreamProtocolError(f"{self._pool.base_url} closed the connection mid-body")
                        self._remaining -= len(data)
                        self._done = self._remaining <= 0
                    else:  # body until close
                        data = await reader.read(65536)
                        if not data:
                            self._done, self._keep = True, False
                            break
                    deadline.reschedule(None)
                    yield data
        except TimeoutError as exc:
            raise UpstreamTimeout(f"no data from {self._pool.base_url} for {limit:g} s") from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise UpstreamProtocolError(f"{self._pool.base_url} closed the connection mid-response") from exc
        except (asyncio.LimitOverrunError, ValueError) as exc:
            raise UpstreamProtocolError(f"malformed chunk from {self._pool.base_url}: {exc}") from exc
        await self.aclose()

    async def aread(self) -> bytes:
        return b"".join([piece async for piece in self.aiter_raw()])

    @property
    def content(self) -> bytes:  # for symmetry with httpx in callers that already read
        raise AttributeError("use aread()")

    async def aclose(self) -> None:
        """Back to the pool when the body was read to the end; otherwise the connection is
        closed, so the server sees the request cancelled."""
        if self._released:
            return
        self._released = True
        self._pool._release(self._conn, reusable=self._done and self._keep)


class UpstreamPool:
    def __init__(self, base_url: str, *, connect_timeout_s: float, read_timeout_s: float,
                 max_connections: int, idle_timeout_s: float = 4.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"backend URL must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._host_header = parts.netloc.encode()
        self._prefix = parts.path.rstrip("/")
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.max_connections = max_connections
        # Below the server's keep-alive timeout (uvicorn's and so vLLM's: 5 s), so we do not send
        # on a connection the server is closing.
        self.idle_timeout_s = idle_timeout_s
        self._idle: list[_Conn] = []
        self._in_use = 0

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self._ssl, limit=1 << 20), self.connect_timeout_s)
        except asyncio.TimeoutError as exc:
            raise UpstreamTimeout(f"could not connect to {self.base_url} within {self.connect_timeout_s:g} s") from exc
        except OSError as exc:
            raise UpstreamConnectError(f"the backend {self.base_url} is unreachable: {exc.strerror or exc}") from exc
        return _Conn(reader, writer)

    def _release(self, conn: _Conn, reusable: bool) -> None:
        self._in_use -= 1
        if reusable and not conn.writer.is_closing() and len(self._idle) < self.max_connections:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    def _pop_idle(self) -> _Conn | None:
        """The most recently used idle connection that is still usable; stale ones are closed."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing() or now - conn.idle_since > self.idle_timeout_s:
                conn.close()  # the server closed it, or is about to
                continue
            return conn
        return None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout_s: float | None = None) -> UpstreamResponse:
        """Send a request; return once the status line and headers arrived."""
        if self._in_use >= self.max_connections:
            raise UpstreamBusy(f"all {self.max_connections} connections to {self.base_url} are busy")
        head = [f"{method} {self._prefix}{path} HTTP/1.1".encode(), b"host: " + self._host_header,
                b"content-length: " + str(len(body)).encode()]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}".encode("latin-1"))
        payload = b"\r\n".join(head) + b"\r\n\r\n" + body
        self._in_use += 1
        try:
            for attempt in (0, 1):
                conn = self._pop_idle() if attempt == 0 else None
                reused = conn is not None
                if conn is None:
                    conn = await self._connect()
                try:
                    conn.writer.write(payload)
                    status, hdrs = await self._read_head(conn, timeout_s or self.read_timeout_s)
                except UpstreamProtocolError:
                    conn.close()
                    if reused:
                        continue  # the server closed that idle connection as we sent: retry once, on a new one
                    raise
                except BaseException:
                    conn.close()
                    raise
                return UpstreamResponse(self, conn, status, hdrs, head_only=method == "HEAD")
        except BaseException:
            self._in_use -= 1
            raise
        raise UpstreamProtocolError("unreachable")  # pragma: no cover

    async def _read_head(self, conn: _Conn, timeout_s: float) -> tuple[int, dict[str, str]]:
        try:
            async with asyncio.timeout(timeout_s):
                raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.TimeoutError as exc:
            raise UpstreamTimeout(f"{self.base_url} sent no response within {timeout_s:g} s") from exc
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise UpstreamProtocolError(f"{self.base_url} closed the connection without a response") from exc
        except asyncio.LimitOverrunError as exc:
            raise UpstreamProtocolError(f"{self.base_url} sent oversized headers") from exc
        lines = raw.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise UpstreamProtocolError(f"{self.base_url} sent a bad status line {lines[0]!r}") from exc
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return status, headers

    async def aclose(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
