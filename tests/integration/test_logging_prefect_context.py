"""Typed-logger events pick up the Prefect flow/task run ids inside a real Prefect run."""

from __future__ import annotations

import pytest

from logging_lib import TrainingLogger
from tests.unit.logging_lib.helpers import read_events

pytestmark = pytest.mark.integration


def test_events_carry_flow_and_task_run_ids(prefect_harness, log_dir):
    from prefect import flow, task
    from prefect.runtime import flow_run, task_run

    log = TrainingLogger("prefect_ctx", log_dir=log_dir)

    @task
    def step() -> str:
        log.log_step(1, 1, 0.5, 1e-4)
        return task_run.id

    @flow
    def pipeline() -> tuple[str, str]:
        log.log_epoch_start(1, 1)
        return flow_run.id, step()

    flow_id, task_id = pipeline()
    log.logger.info("outside")
    start, stp, outside = read_events(log_dir, "training")
    assert start["flow_run_id"] == flow_id and "task_run_id" not in start
    assert stp["flow_run_id"] == flow_id and stp["task_run_id"] == task_id
    assert "flow_run_id" not in outside
