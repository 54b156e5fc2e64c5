"""Every logging path, fed the generated corpus (secret_corpus.py), checked on the written file lines.

For each path one logger writes one line per sample; line i is then read back from the file and
decoded. A secret must not appear anywhere in it (values, keys, message, traceback); a look-alike
(counts, ids, digests, model names, paths, prose) must come back exactly as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from logging_lib import MASK, APILogger, InferenceLogger, SystemLogger, TrainingLogger, bind_context
from logging_lib.redaction import redact_text
from tests.unit.logging_lib.secret_corpus import FAMILIES, LOOKALIKES, PLAIN_KEY_NAMES, SECRET_KEY_NAMES, SECRETS


def _raise(text: str) -> BaseException:
    try:
        raise RuntimeError(text)
    except RuntimeError as exc:
        return exc


def _with_context(logger: Any, **values: Any) -> None:
    with bind_context(**values):
        logger.log_step(1, 2, 0.5, 1e-4)


# path name -> (logger class, kwargs, write(logger, text), where the text comes back in the event)
Path_ = tuple[type, dict[str, Any], Callable[[Any, str], None], Callable[[dict[str, Any]], Any]]
PATHS: dict[str, Path_] = {
    "training.log_step extra": (TrainingLogger, {}, lambda lg, t: lg.log_step(1, 2, 0.5, 1e-4, note=t), lambda e: e["note"]),
    "training.log_epoch_start extra": (TrainingLogger, {}, lambda lg, t: lg.log_epoch_start(1, 3, detail=t), lambda e: e["detail"]),
    "training.log_validation metrics": (TrainingLogger, {}, lambda lg, t: lg.log_validation(1, 0.4, info=t), lambda e: e["info"]),
    "training.log_epoch_end extra": (TrainingLogger, {}, lambda lg, t: lg.log_epoch_end(1, 0.4, 12.0, note=t), lambda e: e["note"]),
    "training.log_error message": (TrainingLogger, {}, lambda lg, t: lg.log_error(t), lambda e: e["error"]),
    "training.log_error exception+traceback": (
        TrainingLogger, {}, lambda lg, t: lg.log_error(_raise(t)), lambda e: e["error"].split(": ", 1)[1]),
    "training.log_error context": (TrainingLogger, {}, lambda lg, t: lg.log_error("failed", cmd=t), lambda e: e["cmd"]),
    "inference.log_request prompt (log_prompts)": (
        InferenceLogger, {"log_prompts": True}, lambda lg, t: lg.log_request("r1", t, "m"), lambda e: e["prompt"]),
    "inference.log_request chat prompt (log_prompts)": (
        InferenceLogger, {"log_prompts": True}, lambda lg, t: lg.log_request("r1", [{"role": "user", "content": t}], "m"),
        lambda e: e["prompt"][0]["content"]),
    "inference.log_request extra": (InferenceLogger, {}, lambda lg, t: lg.log_request("r1", "p", "m", endpoint=t),
                                    lambda e: e["endpoint"]),
    "inference.log_response completion (log_prompts)": (
        InferenceLogger, {"log_prompts": True}, lambda lg, t: lg.log_response("r1", 10.0, 5, "m", completion=t),
        lambda e: e["completion"]),
    "inference.log_error message": (InferenceLogger, {}, lambda lg, t: lg.log_error("r1", t), lambda e: e["error"]),
    "inference.log_error exception": (InferenceLogger, {}, lambda lg, t: lg.log_error("r1", _raise(t)),
                                      lambda e: e["error"].split(": ", 1)[1]),
    "system.log_gpu_unavailable": (SystemLogger, {}, lambda lg, t: lg.log_gpu_unavailable(t), lambda e: e["reason"]),
    "system.log_system_metrics": (SystemLogger, {}, lambda lg, t: lg.log_system_metrics(note=t), lambda e: e["note"]),
    "system.log_event field": (SystemLogger, {}, lambda lg, t: lg.log_event("monitor_error", reason=t), lambda e: e["reason"]),
    "system.log_event name": (SystemLogger, {}, lambda lg, t: lg.log_event(t), lambda e: e["message"]),
    "system.log_gpu_metrics extra": (SystemLogger, {}, lambda lg, t: lg.log_gpu_metrics(0, note=t), lambda e: e["note"]),
    "api.log_request path (gateway)": (APILogger, {}, lambda lg, t: lg.log_request("r1", "GET", "/v1/x?q=" + t),
                                       lambda e: e["path"][len("/v1/x?q="):]),
    "api.log_request headers": (APILogger, {}, lambda lg, t: lg.log_request("r1", "GET", "/", headers={"x-note": t}),
                                lambda e: e["headers"]["x-note"]),
    "api.log_response path (gateway)": (APILogger, {}, lambda lg, t: lg.log_response("r1", 200, 1.0, path="/" + t),
                                        lambda e: e["path"][1:]),
    "structlog .logger message": (TrainingLogger, {}, lambda lg, t: lg.logger.info(t), lambda e: e["message"]),
    "structlog .logger field": (TrainingLogger, {}, lambda lg, t: lg.logger.warning("note", detail=t), lambda e: e["detail"]),
    "structlog .logger exc_info": (TrainingLogger, {}, lambda lg, t: lg.logger.error("boom", exc_info=_raise(t)),
                                   lambda e: e["exception"].rstrip("\n").rsplit("RuntimeError: ", 1)[1]),
    "nested dict and list value": (TrainingLogger, {}, lambda lg, t: lg.log_step(1, 2, 0.5, 1e-4, cfg={"a": [{"b": t}]}),
                                   lambda e: e["cfg"]["a"][0]["b"]),
    "tuple and bytes values": (TrainingLogger, {}, lambda lg, t: lg.log_step(1, 2, 0.5, 1e-4, raw=t.encode(), tup=(t,)),
                               lambda e: e["raw"] if e["raw"] == e["tup"][0] else None),
    "bound context value": (TrainingLogger, {}, lambda lg, t: _with_context(lg, note=t), lambda e: e["note"]),
    "dict key": (TrainingLogger, {}, lambda lg, t: lg.log_step(1, 2, 0.5, 1e-4, cfg={t: 1}), lambda e: next(iter(e["cfg"]))),
    "top-level key": (TrainingLogger, {}, lambda lg, t: lg.log_step(1, 2, 0.5, 1e-4, **{t: 1}),
                      lambda e: [k for k in e if k not in _FIXED_KEYS][0]),
}
_FIXED_KEYS = {"timestamp", "level", "message", "logger", "log_type", "epoch", "step", "loss", "learning_rate"}
_KEY_PATHS = {"dict key", "top-level key"}


def _strings(value: Any) -> list[str]:
    """Every string in a decoded event, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _write_and_read(tmp_path: Path, path: str, texts: list[str]) -> list[tuple[bytes, dict[str, Any]]]:
    cls, kwargs, write, _ = PATHS[path]
    logger = cls("corpus", log_dir=str(tmp_path), **kwargs)
    try:
        for text in texts:
            write(logger, text)
    finally:
        logger.close()
    files = sorted((tmp_path / cls.log_type).glob("*.log"))
    lines = b"".join(f.read_bytes() for f in files).splitlines()
    assert len(lines) == len(texts), f"{path}: {len(lines)} lines for {len(texts)} calls"
    return [(line, orjson.loads(line)) for line in lines]


def test_corpus_is_broad():
    assert len(SECRETS) >= 150 and len(FAMILIES) >= 20 and len(LOOKALIKES) >= 60
    assert len(SECRET_KEY_NAMES) >= 55


@pytest.mark.parametrize("path", sorted(PATHS))
def test_no_secret_survives_on_any_path(tmp_path, path):
    written = _write_and_read(tmp_path, path, [text for _, text, _ in SECRETS])
    leaks = []
    for (family, text, secret), (raw, event) in zip(SECRETS, written):
        decoded = "\n".join(_strings(event))
        if secret in decoded or secret.encode() in raw:
            at = decoded.find(secret)
            leaks.append(f"{family}: {text[:80]!r} -> ...{decoded[max(0, at - 60):at + len(secret) + 20]!r}")
    assert not leaks, f"{path}: {len(leaks)} of {len(SECRETS)} secrets written:\n" + "\n".join(leaks)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_lookalikes_are_kept_on_every_path(tmp_path, path):
    written = _write_and_read(tmp_path, path, [text for _, text in LOOKALIKES])
    extract = PATHS[path][3]
    changed = [f"{family}: {text!r} -> {extract(event)!r}"
               for (family, text), (_, event) in zip(LOOKALIKES, written) if extract(event) != text]
    assert not changed, f"{path}: {len(changed)} look-alikes altered:\n" + "\n".join(changed)


def test_traceback_carries_no_secret(tmp_path):
    log = TrainingLogger("t", log_dir=str(tmp_path))
    for _, text, _ in SECRETS:
        log.log_error(_raise(text))
    log.close()
    lines = (tmp_path / "training").glob("*.log")
    events = [orjson.loads(line) for f in lines for line in f.read_bytes().splitlines()]
    assert all("Traceback (most recent call last)" in e["exception"] for e in events)
    leaks = [secret for (_, _, secret), e in zip(SECRETS, events) if secret in e["exception"]]
    assert not leaks


@pytest.mark.parametrize("where", ["field", "nested", "bound context"])
def test_secret_key_names_are_masked_and_plain_ones_kept(tmp_path, where):
    log = TrainingLogger("t", log_dir=str(tmp_path))
    for name in [*SECRET_KEY_NAMES, *PLAIN_KEY_NAMES]:
        if where == "field":
            log.log_step(1, 2, 0.5, 1e-4, **{name: "v4lue-Of-1t"})
        elif where == "nested":
            log.log_step(1, 2, 0.5, 1e-4, outer={"list": [{name: "v4lue-Of-1t"}]})
        else:
            with bind_context(**{name: "v4lue-Of-1t"}):
                log.log_step(1, 2, 0.5, 1e-4)
    log.close()
    events = [orjson.loads(line) for f in (tmp_path / "training").glob("*.log") for line in f.read_bytes().splitlines()]
    got = [e[name] if where != "nested" else e["outer"]["list"][0][name]
           for name, e in zip([*SECRET_KEY_NAMES, *PLAIN_KEY_NAMES], events)]
    missed = [n for n, v in zip(SECRET_KEY_NAMES, got) if v != MASK]
    over = [n for n, v in zip(PLAIN_KEY_NAMES, got[len(SECRET_KEY_NAMES):]) if v != "v4lue-Of-1t"]
    assert not missed, f"secret key names written in clear: {missed}"
    assert not over, f"plain key names masked: {over}"


def test_masked_keys_do_not_overwrite_each_other(tmp_path):
    log = TrainingLogger("t", log_dir=str(tmp_path))
    log.log_step(1, 2, 0.5, 1e-4, cfg={f"ghp_{'a1B2' * 9}": 1, f"ghp_{'c3D4' * 9}": 2})
    log.close()
    (line,) = (tmp_path / "training").glob("*.log")
    event = orjson.loads(line.read_bytes())
    assert sorted(event["cfg"].values()) == [1, 2] and all(MASK in k for k in event["cfg"])
    assert "a1B2" not in line.read_text() and "c3D4" not in line.read_text()


def test_counts_are_not_masked(tmp_path):
    """Issue 10: `token_count` was masked."""
    log = InferenceLogger("gw", log_dir=str(tmp_path))
    log.log_response("r1", 12.0, 5, "m", prompt_tokens=7, token_count=12, num_tokens=3, max_tokens=64, tokens_per_s=4.5)
    log.close()
    (line,) = (tmp_path / "inference").glob("*.log")
    e = orjson.loads(line.read_bytes())
    assert (e["token_count"], e["num_tokens"], e["max_tokens"], e["tokens_per_s"], e["prompt_tokens"]) == (12, 3, 64, 4.5, 7)


def test_ids_we_log_are_kept_whatever_their_shape(tmp_path):
    """Values of `*_id` fields keep random-looking ids (client-sent request ids); known token
    shapes are still masked there."""
    ids = ["chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "req_01J9ZK3M4N5P6Q7R8S9T0V1W2X", "3f2a1b4c-1234-4abc-8def-0123456789ab",
           "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "Xk9Lm2Pq7Rs4Tv6Wy8Za1Bc3De5Fg0Hj"]
    token = "ghp_" + "a1B2c3D4" * 4 + "e5F6"
    log = InferenceLogger("gw", log_dir=str(tmp_path))
    for rid in ids:
        log.log_request(rid, "p", "m", flow_run_id=rid, nested={"mlflow_run_id": rid})
    log.log_request(token, "p", "m")
    log.close()
    events = [orjson.loads(line) for f in (tmp_path / "inference").glob("*.log") for line in f.read_bytes().splitlines()]
    assert [(e["request_id"], e["flow_run_id"], e["nested"]["mlflow_run_id"]) for e in events[:-1]] == [(i, i, i) for i in ids]
    assert events[-1]["request_id"] == MASK


def test_gateway_redaction_function_is_the_loggers():
    """The gateway logs request paths through APILogger (read tasks/gateway/middleware.py); headers
    and bodies it never logs. The same `redact_text` masks a hostile path."""
    src = (Path(__file__).resolve().parents[3] / "tasks" / "gateway" / "middleware.py").read_text()
    assert "gw.api.log_request(ex.rid, ex.method, ex.path" in src
    for _, text, secret in SECRETS:
        assert secret not in redact_text("/v1/" + text)

