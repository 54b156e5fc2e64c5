"""Secrets never reach the files; bad input never raises and lands in a defined shape."""

from __future__ import annotations

import math

import pytest

from logging_lib import MASK, InferenceLogger, TrainingLogger
from tests.unit.logging_lib.helpers import read_events

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
HF = "hf_" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV"
OPENAI = "sk-proj-" + "Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
JWT_BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc123def456"


def test_secret_keys_are_masked_at_any_depth(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    log.log_step(1, 1, 0.1, 0.1, api_key="k1", config={"mlflow": {"password": "p", "uri": "x"},
                 "list": [{"aws_secret_access_key": "s"}, {"Authorization": "Basic Zm9vOmJhcg=="}]},
                 headers={"Cookie": "session=1", "X-Api-Key": "v", "set-cookie": "a"}, hf_token="t",
                 prompt_tokens=12, max_tokens=64, tokens_per_second=3.5)
    (e,) = read_events(log_dir, "training")
    assert e["api_key"] == MASK and e["hf_token"] == MASK
    assert e["config"]["mlflow"] == {"password": MASK, "uri": "x"}
    assert e["config"]["list"] == [{"aws_secret_access_key": MASK}, {"Authorization": MASK}]
    assert e["headers"] == {"Cookie": MASK, "X-Api-Key": MASK, "set-cookie": MASK}
    # token *counts* are not secrets
    assert (e["prompt_tokens"], e["max_tokens"], e["tokens_per_second"]) == (12, 64, 3.5)


@pytest.mark.parametrize("secret", [AWS_KEY, HF, OPENAI, "ghp_" + "x" * 36])
def test_credential_shapes_are_masked_inside_any_string(log_dir, secret):
    log = TrainingLogger("t", log_dir=log_dir)
    log.logger.info(f"using {secret} now", note=f"key is {secret}", nested={"deep": [f"({secret})"]})
    (e,) = read_events(log_dir, "training")
    text = str(e)
    assert secret not in text
    assert e["message"] == f"using {MASK} now" and e["nested"]["deep"] == [f"({MASK})"]


def test_bearer_tokens_urls_and_key_value_pairs_are_masked(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    log.logger.info("call", header=JWT_BEARER, uri="postgresql://mlflow:hunter2@db:5432/mlflow",
                    cmd="aws configure set aws_secret_access_key=wJalrXUtnFEMI/K7MDENG token: abc.def")
    (e,) = read_events(log_dir, "training")
    assert e["header"] == f"Bearer {MASK}"
    assert e["uri"] == f"postgresql://mlflow:{MASK}@db:5432/mlflow"
    assert "wJalrXUtnFEMI" not in e["cmd"] and "abc.def" not in e["cmd"]


def test_exception_messages_and_tracebacks_are_masked(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    try:
        raise PermissionError(f"denied for {HF} (Authorization: {JWT_BEARER})")
    except PermissionError as exc:
        log.log_error(exc, step=3)
    (e,) = read_events(log_dir, "training")
    assert e["level"] == "ERROR" and e["message"] == "training_error" and e["error_type"] == "PermissionError"
    assert HF not in e["error"] and HF not in e["exception"] and "eyJhbGci" not in e["exception"]
    assert e["step"] == 3


def test_non_finite_numbers_become_null_and_are_named(log_dir):
    log = TrainingLogger("t", log_dir=log_dir)
    log.log_step(1, 1, float("nan"), math.inf, grad_norm=-math.inf, hist=[1.0, float("nan")])
    (e,) = read_events(log_dir, "training")
    assert e["loss"] is None and e["learning_rate"] is None and e["grad_norm"] is None
    assert e["hist"] == [1.0, None]
    assert e["nonfinite_fields"] == ["loss", "learning_rate", "grad_norm", "hist[1]"]


def test_garbage_never_raises(log_dir):
    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    class Opaque:
        def __repr__(self):
            return "<Opaque>"

    loop: list = []
    loop.append(loop)
    deep: dict = {}
    cur = deep
    for _ in range(50):
        cur["d"] = {}
        cur = cur["d"]
    log = TrainingLogger("t", log_dir=log_dir, max_str_chars=100)
    log.log_step(1, 1, "not a number", object(), huge="x" * 10_000, blob=b"\xff\xfebytes", obj=Opaque(),
                 bad=BadRepr(), loop=loop, deep=deep, big_int=10**30, keys={1: "a", (2, 3): "b"},
                 items=set(range(3)))
    (e,) = read_events(log_dir, "training")
    assert e["loss"] is None and e["invalid_fields"] == ["loss", "learning_rate"]
    assert e["huge"].startswith("x" * 100) and e["huge"].endswith("...[truncated 9900 chars]")
    assert e["obj"] == "<Opaque>" and e["bad"].startswith("<unrepresentable BadRepr")
    assert "\ufffd" in e["blob"] and e["big_int"] == 1e30
    assert e["keys"] == {"1": "a", "(2, 3)": "b"} and e["items"] == [0, 1, 2]
    assert "<max depth>" in str(e["deep"]) and "<max depth>" in str(e["loop"])


def test_numpy_and_torch_scalars_are_numbers(log_dir):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    log = TrainingLogger("t", log_dir=log_dir)
    log.log_step(np.int64(1), np.int64(2), torch.tensor(0.5), np.float32(0.25), grad=torch.tensor(1.5))
    (e,) = read_events(log_dir, "training")
    assert (e["epoch"], e["step"], e["loss"], e["learning_rate"], e["grad"]) == (1, 2, 0.5, 0.25, 1.5)


def test_reserved_fields_cannot_be_overwritten(log_dir):
    log = InferenceLogger("gw", log_dir=log_dir)
    log.log_request("r", "p", "m", level="DEBUG", timestamp="yesterday", message="x")
    (e,) = read_events(log_dir, "inference")
    assert e["level"] == "INFO" and e["message"] == "inference_request"
    assert (e["extra_level"], e["extra_timestamp"], e["extra_message"]) == ("DEBUG", "yesterday", "x")
