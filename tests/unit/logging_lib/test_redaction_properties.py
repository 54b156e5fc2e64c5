"""Property-based: a generated secret embedded anywhere never reaches the file; non-secrets do, unchanged.

Secrets come from the corpus family generators (secret_corpus.py) driven by Hypothesis' RNG, so a
failure shrinks to one family and one surrounding text. Lines are read back from the real file.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logging_lib import MASK, InferenceLogger, SystemLogger, TrainingLogger
from tests.unit.logging_lib.secret_corpus import _families

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_GENS = [(family, gen) for family, gens in _families().items() for gen in gens]

# Text around the secret: anything printable, joined to it by a delimiter (a secret glued to
# other letters is a different token, for us and for any scanner).
_surrounding = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=40)
_delimiter = st.sampled_from([" ", "\n", "\t", ", ", "; ", " (", ") ", " [", "] ", " | ", ". "])


@st.composite
def secrets(draw: Any) -> tuple[str, str, str]:
    family, gen = draw(st.sampled_from(_GENS))
    text, secret = gen(random.Random(draw(st.integers(0, 2**32))))
    return family, text, secret


@st.composite
def embedded(draw: Any) -> tuple[str, str, str]:
    family, text, secret = draw(secrets())
    before, after = draw(_surrounding), draw(_surrounding)
    return family, f"{before}{draw(_delimiter)}{text}{draw(_delimiter)}{after}", secret


class FileTail:
    """One real logger per test; `last()` reads back the line the latest call wrote."""

    def __init__(self, cls: type, **kwargs: Any) -> None:
        self._dir = tempfile.TemporaryDirectory()
        self.log = cls("prop", log_dir=self._dir.name, **kwargs)
        self._offset = 0

    def last(self) -> tuple[bytes, dict[str, Any]]:
        data = Path(self.log.path).read_bytes()
        new, self._offset = data[self._offset:], len(data)
        (line,) = new.splitlines()
        return line, orjson.loads(line)

    def close(self) -> None:
        self.log.close()
        self._dir.cleanup()


def _all_strings(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"{k}\n{_all_strings(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(_all_strings(v) for v in value)
    return ""


def _assert_gone(secret: str, line: bytes, event: dict[str, Any], text: str) -> None:
    assert secret not in _all_strings(event) and secret.encode() not in line, f"leaked from {text!r}: {line[:400]!r}"


def test_embedded_secret_never_written_in_a_value_message_or_traceback():
    tail = FileTail(TrainingLogger)

    @SETTINGS
    @given(embedded(), st.sampled_from(["field", "message", "error", "nested", "exc_info"]))
    def check(sample, where):
        family, text, secret = sample
        log = tail.log
        if where == "field":
            log.log_step(1, 2, 0.5, 1e-4, note=text)
        elif where == "message":
            log.logger.info(text)
        elif where == "error":
            log.log_error(RuntimeError(text))
        elif where == "nested":
            log.log_step(1, 2, 0.5, 1e-4, cfg={"a": [{"b": [text]}]})
        else:
            try:
                raise ValueError(text)
            except ValueError as exc:
                log.logger.exception("failed", exc_info=exc)
        _assert_gone(secret, *tail.last(), text)

    try:
        check()
    finally:
        tail.close()


def test_secret_in_any_key_position_never_written():
    tail = FileTail(SystemLogger)

    @SETTINGS
    @given(secrets(), st.sampled_from(["kwarg key", "nested key", "event name", "key=value text"]),
           st.integers(0, 3))
    def check(sample, where, depth):
        family, text, secret = sample
        log = tail.log
        if where == "kwarg key":
            log.log_event("monitor_error", **{text: 1})
        elif where == "nested key":
            value: Any = {text: "v"}
            for _ in range(depth):
                value = {"level": [value]}
            log.log_event("monitor_error", detail=value)
        elif where == "event name":
            log.log_event(f"event {text}")
        else:
            log.log_event("monitor_error", detail=f"{{{text!r}: 1}}")
        _assert_gone(secret, *tail.last(), text)

    try:
        check()
    finally:
        tail.close()


_WORDS = ["the", "token", "tokens", "password", "reset", "key", "secret", "session", "auth", "cookie", "model",
          "loss", "step", "run", "validation", "bearer", "basic", "failed", "retry", "pass", "private", "api",
          "signature", "credential", "budget", "count", "user", "request", "epoch", "gpu", "memory"]
_prose = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=12).map(" ".join)
_quantity_key = st.sampled_from(["token_count", "prompt_tokens", "max_tokens", "num_tokens", "tokens_per_s",
                                 "total_tokens", "completion_tokens", "key_count"])


@st.composite
def non_secrets(draw: Any) -> str:
    kind = draw(st.sampled_from(["count", "uuid", "sha256", "run_id", "prose", "path", "model"]))
    if kind == "count":
        return f"{draw(_quantity_key)}={draw(st.integers(0, 10**9))}"
    if kind == "uuid":
        return str(draw(st.uuids()))
    if kind == "sha256":
        return hashlib.sha256(draw(st.binary(max_size=64))).hexdigest()
    if kind == "run_id":
        return f"mlflow_run_id={uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex}"
    if kind == "path":
        parts = draw(st.lists(st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12), min_size=1, max_size=6))
        return "/" + "/".join(parts) + draw(st.sampled_from(["", ".log", ".safetensors", ".json"]))
    if kind == "model":
        org = draw(st.sampled_from(["meta-llama", "Qwen", "mistralai", "google", "microsoft"]))
        size = draw(st.sampled_from(["0.5B", "1B", "1.5B", "3B", "7B", "135M"]))
        return f"{org}/{draw(st.sampled_from(['Llama-3.2', 'Qwen2.5', 'Mistral', 'gemma-2', 'Phi-3']))}-{size}-Instruct"
    return draw(_prose)


def test_non_secrets_are_written_unchanged():
    tail = FileTail(InferenceLogger)

    @SETTINGS
    @given(st.lists(non_secrets(), min_size=1, max_size=4))
    def check(values):
        text = " ".join(values)
        tail.log.log_error(values[0], "failed", detail=text, token_count=len(values))
        _, event = tail.last()
        assert event["detail"] == text and event["request_id"] == values[0] and event["token_count"] == len(values)
        assert MASK not in _all_strings(event)

    try:
        check()
    finally:
        tail.close()
