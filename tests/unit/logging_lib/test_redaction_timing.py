"""Redaction runs in linear time on hostile input (issue 10: one 32 KB request path froze the gateway).

Each adversarial shape is timed at growing sizes within one run; a linear pattern takes ~4x
longer per 4x input. A step above 24x (cubic) fails at once, before a bigger input could
hang the suite; over the whole 1 KB -> 64 KB span, quadratic growth (4096x) fails where linear
growth with cache effects (~64-200x) passes.
Timings are the best of several batches, so a loaded CI machine adds noise, not failures.
"""

from __future__ import annotations

import random
import time
from typing import Callable

import pytest

from logging_lib import APILogger
from logging_lib.redaction import redact_text
from logging_lib.sanitize import Problems, clean

SIZES = (1024, 4096, 16384, 65536)
STEP_LIMIT = 24.0  # per 4x step: linear ~4, quadratic 16, the old `key=value` pattern ~64 (cubic)
SPAN_MARGIN = 8.0  # 1 KB -> 64 KB (64x) may take 8 x 64 = 512x as long; quadratic takes ~4096x


def _rep(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _fuzz(n: int) -> str:
    """Random punctuation and letters; starts with a secret word so every size takes the full path."""
    rng = random.Random(n)
    return "password token://" + "".join(rng.choice('a=:"\' /@-_.A0{}&?;\\\nkeyBEGIN') for _ in range(n))


# name -> n -> text of about n characters, aimed at one pattern (or several) each.
SHAPES: dict[str, Callable[[int], str]] = {
    # key=value pairs
    "token-": lambda n: _rep("token-", n),
    "token_": lambda n: _rep("token_", n),
    "password run": lambda n: _rep("password", n),
    "a=": lambda n: _rep("a=", n),
    "password=": lambda n: _rep("password=", n),
    "password: ": lambda n: _rep("password: ", n),
    "unterminated quote": lambda n: '"password":"' + "a" * n,
    "quote pairs": lambda n: _rep("'password': '", n),
    "long key": lambda n: "x" * n + "=1",
    "dotted key": lambda n: _rep("a.", n) + "password=1",
    "spaces after key": lambda n: "password" + " " * n,
    "backslashes": lambda n: 'password="' + "\\" * n,
    "cookie headers": lambda n: _rep("Cookie:", n),
    "user flags": lambda n: _rep("-u a:", n),
    "xml tags": lambda n: _rep("<password>", n) + "x</password>",
    "auth headers": lambda n: _rep("authorization: bearer ", n),
    # private keys
    "pem headers": lambda n: _rep("-----BEGIN PRIVATE KEY-----", n),
    "pem dashes": lambda n: "-----BEGIN RSA PRIVATE KEY-----" + "-" * n,
    "pem header spaces": lambda n: "-----BEGIN " + _rep("A ", n),
    "pem near-end": lambda n: "-----BEGIN PRIVATE KEY-----" + _rep("----E", n),
    # URLs and webhooks
    "schemes": lambda n: _rep("a://", n),
    "long authority": lambda n: "http://" + "a" * n,
    "at signs": lambda n: "http://" + "@" * n,
    "scheme chars": lambda n: _rep("a+", n) + "://",
    "userinfo colons": lambda n: _rep("http://a:", n),
    "userinfo ats": lambda n: "http://" + _rep("a:b@", n),
    "slack hooks": lambda n: _rep("hooks.slack.com/services/", n),
    "discord hooks": lambda n: _rep("discord.com/api/webhooks/", n),
    # auth schemes and provider tokens
    "bearer words": lambda n: _rep("bearer ", n),
    "bearer spaces": lambda n: "Bearer " + " " * n + "x",
    "token a1": lambda n: _rep("token a1 ", n),
    "eyJ": lambda n: _rep("eyJ", n),
    "jwt parts": lambda n: _rep("eyJaaaaaaaa.", n),
    "AKIA": lambda n: _rep("AKIA", n),
    "sk-": lambda n: _rep("sk-", n),
    "telegram digits": lambda n: "1" * n + ":AA",
    "discord bot": lambda n: "M" + "a" * n,
    "azure secret": lambda n: _rep("aaa1Q~", n),
    "airtable": lambda n: "pat" + "a" * n,
    "sendgrid": lambda n: "SG." + "a" * n,
    "hex run": lambda n: "0" * n,
    "ghp_": lambda n: _rep("ghp_", n),
    "xoxb-": lambda n: _rep("xoxb-", n),
    "dashes": lambda n: "-" * n,
    # long random-looking tokens
    "letters": lambda n: "a" * n,
    "aB3": lambda n: _rep("aB3", n),
    "a-": lambda n: _rep("a-", n),
    "aB3/": lambda n: _rep("aB3/", n),
    "fuzz": _fuzz,
}


def _best_time(fn: Callable[[], object], hopeless: float) -> float:
    """Best of 5 batches; a batch repeats the call until it has run for >= 5 ms.

    After 3 batches, a best time above `hopeless` already fails the step: stop there, so
    a super-linear pattern costs seconds, not minutes.
    """
    best = float("inf")
    for batch in range(5):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= 0.005:
                break
        best = min(best, elapsed / calls)
        if batch >= 2 and best > hopeless:
            break
    return best


def assert_linear(fn: Callable[[str], object], make: Callable[[int], str], label: str) -> None:
    times: list[float] = []
    for n in SIZES:
        text = make(n)
        hopeless = 2 * STEP_LIMIT * times[-1] if times else float("inf")
        times.append(_best_time(lambda: fn(text), hopeless))
        if len(times) > 1:
            step = times[-1] / times[-2]
            assert step <= STEP_LIMIT, (f"{label}: {len(text)} chars took {step:.1f}x the time of "
                                        f"{SIZES[len(times) - 2]} (4x input); times {times}")
    span = times[-1] / times[0]
    limit = SPAN_MARGIN * SIZES[-1] / SIZES[0]
    assert span <= limit, f"{label}: 64x input took {span:.0f}x the time (limit {limit:.0f}x); times {times}"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_redact_text_is_linear(shape):
    assert_linear(redact_text, SHAPES[shape], f"redact_text[{shape}]")


@pytest.mark.parametrize("shape", ["token-", "unterminated quote", "pem headers", "userinfo ats", "fuzz"])
def test_sanitiser_is_linear_for_values_and_keys(shape):
    make = SHAPES[shape]
    assert_linear(lambda s: clean(s, "v", Problems(), max_str=10**6), make, f"clean(value)[{shape}]")
    assert_linear(lambda s: clean({s: 1}, "v", Problems(), max_str=10**6), make, f"clean(key)[{shape}]")


@pytest.mark.parametrize("shape", ["token-", "a=", "schemes", "fuzz"])
def test_gateway_request_path_logging_is_linear(tmp_path, shape):
    """The gateway logs every request path through APILogger.log_request before auth."""
    log = APILogger("gateway", log_dir=str(tmp_path), max_str_chars=10**6)
    try:
        assert_linear(lambda s: log.log_request("rid", "GET", "/" + s), SHAPES[shape], f"api path[{shape}]")
    finally:
        log.close()
