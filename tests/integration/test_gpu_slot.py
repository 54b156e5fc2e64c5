"""`gpu_slot` on a real Prefect API (test harness): a failing step still gives the slot back,
an inactive or absent limit is a logged no-op, None takes nothing. (Two runs at once on a real
server: tests/e2e/test_gpu_slot.py.)"""

from __future__ import annotations

import logging

import pytest

from tasks.pipeline.gpu_slot import gpu_slot

pytestmark = [pytest.mark.integration]

LIMIT = "gpu-slot-test"
log = logging.getLogger("test.gpu_slot")


@pytest.fixture
def client(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as c:
        c.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=LIMIT, limit=1))
        try:
            yield c
        finally:
            c.delete_global_concurrency_limit_by_name(LIMIT)


def test_a_failing_step_gives_the_slot_back(client, caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    with pytest.raises(RuntimeError, match="training failed"):
        with gpu_slot(LIMIT, 60, log):
            assert client.read_global_concurrency_limit_by_name(LIMIT).active_slots == 1
            raise RuntimeError("training failed")
    assert client.read_global_concurrency_limit_by_name(LIMIT).active_slots == 0
    assert "gpu slot of limit 'gpu-slot-test' taken after" in caplog.text
    assert "released after" in caplog.text and "waiting" not in caplog.text


def test_an_inactive_or_missing_limit_runs_without_a_slot_and_says_so(client, caplog):
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    client.update_global_concurrency_limit(LIMIT, GlobalConcurrencyLimitUpdate(active=False))
    ran = []
    with gpu_slot(LIMIT, 60, log):
        ran.append(LIMIT)
    with gpu_slot("no-such-limit", 60, log):
        ran.append("no-such-limit")
    assert ran == [LIMIT, "no-such-limit"]
    assert "'gpu-slot-test' is inactive; running without one" in caplog.text
    assert "'no-such-limit' does not exist on the Prefect server; running without one" in caplog.text


def test_none_takes_no_slot(caplog):
    caplog.set_level(logging.INFO, logger=log.name)
    with gpu_slot(None, 60, log):
        pass
    assert "none taken (orchestration.gpu_limit is null)" in caplog.text
