"""Two nightly runs at once on the stack: the `gpu` global concurrency limit (1 slot, created
by `stack.sh up` through flows.safeguards) runs their GPU work one after the other; both
complete."""

from __future__ import annotations

import orjson
import pytest

from tests.e2e.stack.test_stack_1_nightly import run_nightly, wait, worker_logs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _training_span(stack, run_id: str) -> tuple[str, str]:
    stamps = sorted(e["timestamp"] for p in (stack.log_dir / "training").glob("*.log")
                    for e in map(orjson.loads, p.read_bytes().splitlines())
                    if e.get("flow_run_id") == run_id and e["message"] == "training_step")
    assert stamps, f"run {run_id} logged no training step"
    return stamps[0], stamps[-1]


def test_two_nightlies_at_once_train_one_after_the_other(stack):
    limit = stack.prefect.api("GET", "/v2/concurrency_limits/gpu")
    assert (limit["limit"], limit["active"]) == (1, True)
    first = run_nightly(stack, params=("--param", "deploy_and_benchmark=false"))
    second = run_nightly(stack, params=("--param", "deploy_and_benchmark=false"))
    runs = [wait(stack, run_id) for run_id in (first, second)]
    assert [r["state"]["type"] for r in runs] == ["COMPLETED", "COMPLETED"], (
        [r["state"]["message"] for r in runs], worker_logs(stack))
    # both were picked up at once (two workers), yet trained one after the other
    (a_start, a_end), (b_start, b_end) = sorted(_training_span(stack, run_id) for run_id in (first, second))
    assert a_end < b_start, f"training overlapped: {a_start}..{a_end} and {b_start}..{b_end}"
    messages = [m["message"] for run_id in (first, second) for m in stack.prefect.api(
        "POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})]
    assert any(m.startswith("waiting for a gpu slot") for m in messages), messages
    assert stack.prefect.api("GET", "/v2/concurrency_limits/gpu")["active_slots"] == 0
