"""A deterministic OpenAI-compatible streaming server whose delays the caller controls.

Used by tests and benchmarks as the "local backend": the first chunk leaves `ttft_ms` after
the request arrives, then one chunk (one token) every `itl_ms`, each at an absolute planned
time so delays do not drift. Plain asyncio with HTTP/1.1 keep-alive and chunked responses,
so the server itself costs little and does not hide client or gateway overhead.

A request body may carry `"stub": {...}` to override behaviour for that request:
`ttft_ms`, `itl_ms`, `output_tokens`, `status` (answer with this error status),
`hang_s` (wait before the response headers), `usage_delay_ms` (wait between the last token
and the trailing usage message). `GET /stats` reports counters, including
streams cut short by the client (`streams_cancelled`) and completions per model name.
`GET /truth` lists what the server saw of each completion request, by the `x-request-id` it
carried and in arrival order: when it was read, when its first and last token were written
(testkit/truth.py), the truth a client's measured latencies are checked against.

`model_ttft_ms` ({model name: extra ms}) adds a known delay to the first token of every
request for that name (streaming or not), so one of two served names is truly slower, as a
slower candidate adapter would be. `ttft_jitter` (a lognormal sigma, default 0: exact) multiplies
each request's time to first token by exp(N(0, sigma)) drawn from a generator seeded by
`jitter_seed`, so latencies vary per request as a real server's do and a comparison's
intervals have width. `/v1/models` lists the base (`model`) and, with `parent` =
the base as vLLM does, every adapter loaded through `/v1/load_lora_adapter`.

`slots` (default: unlimited) serves at most that many completions at once; the rest wait in
arrival order, and a request's delays count from when it got its slot. With a fixed service time
(ttft_ms + itl_ms x (output_tokens - 1), no jitter) the server's capacity is then known by
construction: slots / service time requests/s (`capacity_per_s`).

`replies` ({model name: template}) makes non-streaming answers depend on the model asked,
as vLLM serving a base and an adapter does: the template's `{last}` is the last message's
content (or the prompt). A model not in `replies` answers "tok tok ...", as before.

    python -m testkit.stub_vllm --port 9000 --ttft-ms 20 --itl-ms 5 --reply 'tuned={last}' --model-ttft X-v4=15 \
        --ttft-jitter 0.3 --jitter-seed 1 --slots 4
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from testkit.truth import REQUEST_ID, RequestTruth, TruthLog

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


@dataclass
class StubStats:
    requests: int = 0
    completions: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0
    unary_cancelled: int = 0
    lora_loaded: list[str] = field(default_factory=list)
    last_body: dict[str, Any] | None = None
    by_model: dict[str, int] = field(default_factory=dict)


class StubServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, model: str = "stub-model", ttft_ms: float = 0.0,
                 itl_ms: float = 0.0, output_tokens: int = 16, prompt_tokens: int = 7,
                 replies: dict[str, str] | None = None, model_ttft_ms: dict[str, float] | None = None, ttft_jitter: float = 0.0,
                 jitter_seed: int = 0, slots: int | None = None) -> None:
        if ttft_jitter < 0:
            raise ValueError(f"ttft_jitter is a lognormal sigma >= 0, got {ttft_jitter}")
        if slots is not None and slots < 1:
            raise ValueError(f"slots must be >= 1 (or None: unlimited), got {slots}")
        self.slots = slots
        self._slots: asyncio.Semaphore | None = None
        self.host, self.port, self.model = host, port, model
        self.ttft_jitter, self._jitter = ttft_jitter, random.Random(jitter_seed)
        self.replies = dict(replies or {})
        self.model_ttft_ms = {name: float(ms) for name, ms in (model_ttft_ms or {}).items()}
        self.ttft_ms, self.itl_ms = ttft_ms, itl_ms
        self.output_tokens, self.prompt_tokens = output_tokens, prompt_tokens
        self.stats = StubStats()
        self.truth = TruthLog()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def capacity_per_s(self, output_tokens: int) -> float:
        """Completions per second the slots sustain at `output_tokens` each (inf without slots)."""
        service_s = (self.ttft_ms + self.itl_ms * max(output_tokens - 1, 0)) / 1000.0
        if self.slots is None or service_s <= 0:
            return float("inf")
        return self.slots / service_s

    async def start(self) -> None:
        self._slots = asyncio.Semaphore(self.slots) if self.slots is not None else None
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- running in a background thread (tests) ---------------------------------------
    def start_in_thread(self) -> StubServer:
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.start()
            ready.set()
            await self._stop.wait()
            await self.close()  # asyncio.run then cancels the connection handlers still running

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), name="stub-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("stub server did not start within 10 s")
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
            self._thread.join(10)

    # -- HTTP -------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                self.stats.requests += 1
                REQUEST_ID.set(headers.get("x-request-id"))
                keep = await self._route(method, path.split("?", 1)[0], body, reader, writer)
                if not keep or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, payload: bytes, ctype: bytes = b"application/json") -> None:
        writer.write(b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
                     % (status, _REASONS.get(status, "Error").encode(), ctype, len(payload), payload))

    async def _route(self, method: str, path: str, body: bytes, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        if method == "GET" and path == "/health":
            self._send(writer, 200, b"")
        elif method == "GET" and path == "/v1/models":
            base = {"id": self.model, "object": "model", "owned_by": "stub", "root": self.model, "parent": None}
            adapters = [{"id": i, "object": "model", "owned_by": "stub", "root": i, "parent": self.model}
                        for i in self.stats.lora_loaded]
            self._send(writer, 200, orjson.dumps({"object": "list", "data": [base, *adapters]}))
        elif method == "GET" and path == "/stats":
            s = self.stats
            self._send(writer, 200, orjson.dumps({"requests": s.requests, "completions": s.completions,
                                                  "streams_completed": s.streams_completed,
                                                  "streams_cancelled": s.streams_cancelled,
                                                  "by_model": s.by_model}))
        elif method == "GET" and path == "/truth":
            self._send(writer, 200, orjson.dumps(self.truth.to_dict()))
        elif method == "POST" and path == "/v1/load_lora_adapter":
            req = orjson.loads(body or b"{}")
            self.stats.lora_loaded.append(req["lora_name"])
            self._send(writer, 200, b"Success", b"text/plain")
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            return await self._completion(path.endswith("chat/completions"), body, reader, writer)
        else:
            self._send(writer, 404, orjson.dumps({"error": {"message": f"no route {method} {path}",
                                                            "type": "not_found", "param": None, "code": 404}}))
        await writer.drain()
        return True

    async def _completion(self, chat: bool, body: bytes, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> bool:
        if self._slots is None:
            return await self._serve(chat, body, reader, writer)
        async with self._slots:  # FIFO: asyncio's semaphore wakes waiters in arrival order
            return await self._serve(chat, body, reader, writer)

    async def _serve(self, chat: bool, body: bytes, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bool:
        arrived = time.perf_counter()
        self.stats.completions += 1
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            self._send(writer, 400, b'{"error":{"message":"bad json","type":"BadRequestError","param":null,"code":400}}')
            await writer.drain()
            return True
        self.stats.last_body = req
        over = req.get("stub") or {}
        model = req.get("model", self.model)
        truth = self.truth.arrive(model, arrived)
        ttft = (float(over.get("ttft_ms", self.ttft_ms)) + self.model_ttft_ms.get(model, 0.0)) / 1000.0
        if self.ttft_jitter:
            ttft *= self._jitter.lognormvariate(0.0, self.ttft_jitter)
        itl = float(over.get("itl_ms", self.itl_ms)) / 1000.0
        n = int(over.get("output_tokens", req.get("max_tokens") or self.output_tokens))
        if over.get("hang_s"):
            await asyncio.sleep(float(over["hang_s"]))
        if over.get("status"):
            status = truth.status = int(over["status"])
            self._send(writer, status, orjson.dumps({"error": {"message": "stub error", "type": "stub",
                                                               "param": None, "code": status}}))
            await writer.drain()
            return True
        self.stats.by_model[model] = self.stats.by_model.get(model, 0) + 1
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": n, "total_tokens": self.prompt_tokens + n}
        kind = "chat.completion" if chat else "text_completion"
        if not req.get("stream"):
            delay = ttft + itl * max(n - 1, 0) - (time.perf_counter() - arrived)
            if delay > 0:
                await asyncio.sleep(delay)
            if reader.at_eof() or writer.transport.is_closing():  # the caller gave up (vLLM aborts too)
                self.stats.unary_cancelled += 1
                return False
            text = self._reply(model, req, n)
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                      if chat else {"index": 0, "text": text, "finish_reason": "length"})
            self._send(writer, 200, orjson.dumps({"id": "cmpl-stub", "object": kind, "model": model,
                                                  "choices": [choice], "usage": usage}))
            truth.token_written()
            await writer.drain()
            return True
        return await self._stream(chat, req, model, usage, arrived, ttft, itl, n, reader, writer, truth)

    def _reply(self, model: str, req: dict[str, Any], n: int) -> str:
        template = self.replies.get(model)
        if template is None:
            return "tok " * n
        messages = req.get("messages") or [{"content": req.get("prompt", "")}]
        return template.replace("{last}", str(messages[-1].get("content", "")))

    async def _stream(self, chat: bool, req: dict[str, Any], model: str, usage: dict[str, int], arrived: float,
                      ttft: float, itl: float, n: int, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter, truth: RequestTruth) -> bool:
        """One token chunk per `itl`, each at its planned time, then usage (if asked) and [DONE]."""
        over = req.get("stub") or {}
        kind = "chat.completion" if chat else "text_completion"
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        kind = kind + ".chunk" if chat else kind
        loop_time = time.perf_counter
        for i in range(n):
            delay = arrived + ttft + i * itl - loop_time()
            if delay > 0:
                await asyncio.sleep(delay)
            if reader.at_eof() or writer.transport.is_closing():
                self.stats.streams_cancelled += 1
                return False
            choice = ({"index": 0, "delta": {"role": "assistant", "content": "tok "} if i == 0 else {"content": "tok "},
                       "finish_reason": "length" if i == n - 1 else None}
                      if chat else {"index": 0, "text": "tok ", "finish_reason": "length" if i == n - 1 else None})
            event = b"data: " + orjson.dumps({"id": "cmpl-stub", "object": kind, "model": model,
                                               "choices": [choice]}) + b"\n\n"
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            truth.token_written()
            try:
                await writer.drain()
            except ConnectionError:
                self.stats.streams_cancelled += 1
                return False
        tail = b""
        if include_usage and over.get("usage_delay_ms"):
            await asyncio.sleep(float(over["usage_delay_ms"]) / 1000.0)
        if include_usage:
            tail += b"data: " + orjson.dumps({"id": "cmpl-stub", "object": kind, "model": model, "choices": [],
                                              "usage": usage}) + b"\n\n"
        tail += b"data: [DONE]\n\n"
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        try:
            await writer.drain()
        except ConnectionError:
            self.stats.streams_cancelled += 1
            return False
        self.stats.streams_completed += 1
        return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--model", default="stub-model")
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--itl-ms", type=float, default=0.0)
    p.add_argument("--output-tokens", type=int, default=16)
    p.add_argument("--reply", action="append", default=[], metavar="MODEL=TEMPLATE",
                   help="non-streaming answer of MODEL ({last}: the last message); repeatable")
    p.add_argument("--model-ttft", action="append", default=[], metavar="NAME=MS",
                   help="extra time to first token (ms) for requests naming NAME; repeatable")
    p.add_argument("--ttft-jitter", type=float, default=0.0, metavar="SIGMA",
                   help="lognormal sigma multiplying each request's time to first token (0: exact)")
    p.add_argument("--jitter-seed", type=int, default=0)
    p.add_argument("--slots", type=int, default=None,
                   help="completions served at once (the rest wait in arrival order); default unlimited")
    a = p.parse_args(argv)
    replies = dict(r.split("=", 1) for r in a.reply)
    model_ttft = _model_ttft(p, a.model_ttft)

    async def run() -> None:
        server = StubServer(a.host, a.port, model=a.model, ttft_ms=a.ttft_ms, itl_ms=a.itl_ms,
                            output_tokens=a.output_tokens, replies=replies, model_ttft_ms=model_ttft,
                            ttft_jitter=a.ttft_jitter, jitter_seed=a.jitter_seed, slots=a.slots)
        await server.start()
        print(f"listening {server.base_url}", flush=True)
        await asyncio.Event().wait()

    try:
        from tasks.benchmark.runner import event_loop_factory

        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(run())
    except KeyboardInterrupt:
        pass


def _model_ttft(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, ms = item.rpartition("=")
        try:
            out[name] = float(ms)
        except ValueError:
            sep = ""
        if not sep or not name:
            parser.error(f"--model-ttft {item!r}: expected NAME=MS, e.g. tiny-v4=20")
    return out


if __name__ == "__main__":
    main()
