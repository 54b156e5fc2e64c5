"""The gateway's HTTP/1.1 upstream pool against tiny real servers on loopback."""

from __future__ import annotations

import asyncio

import pytest

from tasks.http.upstream import UpstreamConnectError, UpstreamPool, UpstreamTimeout


async def _serve(handler):  # noqa: ANN001, ANN202
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def _keep_alive(response: bytes, connections: list[int]):  # noqa: ANN202
    """A keep-alive server's handler answering every request (bodiless) with `response`."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            writer.write(response)
            await writer.drain()

    return handler


def _pool(url: str, read_timeout_s: float = 2.0) -> UpstreamPool:
    return UpstreamPool(url, connect_timeout_s=1.0, read_timeout_s=read_timeout_s, max_connections=4)


def test_idle_connection_closed_by_server_is_retried_on_a_new_one() -> None:
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive promised, but the server drops the connection

    async def main() -> list[bytes]:
        server, url = await _serve(handler)
        pool = _pool(url)
        bodies = []
        for _ in range(2):
            resp = await pool.request("GET", "/x")
            bodies.append(await resp.aread())
            await asyncio.sleep(0.05)
        await pool.aclose()
        server.close()
        return bodies

    assert asyncio.run(main()) == [b"ok", b"ok"]
    assert len(connections) == 2


def test_connection_idle_longer_than_the_keep_alive_is_not_reused() -> None:
    """Sending on a connection the server is just closing (its keep-alive ran out) races; one
    idle past idle_timeout_s is closed and replaced instead."""
    connections: list[int] = []
    handler = _keep_alive(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", connections)

    async def main() -> None:
        server, url = await _serve(handler)
        pool = UpstreamPool(url, connect_timeout_s=1.0, read_timeout_s=2.0, max_connections=4, idle_timeout_s=0.2)
        for pause_s in (0.05, 0.3):   # reused after 0.05 s; replaced after 0.3 s
            await (await pool.request("GET", "/x")).aread()
            await asyncio.sleep(pause_s)
        await (await pool.request("GET", "/x")).aread()
        await pool.aclose()
        server.close()

    asyncio.run(main())
    assert len(connections) == 2


def test_chunked_body_is_decoded_and_connection_reused() -> None:
    connections: list[int] = []
    handler = _keep_alive(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
                          connections)

    async def main() -> list[list[bytes]]:
        server, url = await _serve(handler)
        pool = _pool(url)
        out = []
        for _ in range(2):
            resp = await pool.request("POST", "/y", b"{}")
            out.append([piece async for piece in resp.aiter_raw()])
        await pool.aclose()
        server.close()
        return out

    assert asyncio.run(main()) == [[b"hello", b" world"]] * 2
    assert len(connections) == 1


def test_timeout_and_refused() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def main() -> None:
        server, url = await _serve(silent)
        with pytest.raises(UpstreamTimeout):
            await _pool(url, read_timeout_s=0.2).request("GET", "/slow")
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamConnectError, match="unreachable"):
            await _pool(url).request("GET", "/gone")

    asyncio.run(main())
