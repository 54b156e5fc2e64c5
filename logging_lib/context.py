"""Run context added to every event: values bound with `bind_context`, plus the Prefect
flow/task run ids when the call happens inside a Prefect run.

Prefect is never imported here: if the process has not imported it, there is no run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_bound: ContextVar[dict[str, Any]] = ContextVar("mlops_log_context", default={})


@contextmanager
def bind_context(**values: Any) -> Iterator[dict[str, Any]]:
    """Add fields (e.g. `run_id`, `request_id`) to every event logged inside the block.

    Works across threads started inside the block only if they copy the context
    (`contextvars.copy_context()`); asyncio tasks inherit it automatically.
    """
    merged = {**_bound.get(), **values}
    token = _bound.set(merged)
    try:
        yield merged
    finally:
        _bound.reset(token)


def bound_context() -> dict[str, Any]:
    return _bound.get()


def prefect_run_ids() -> dict[str, str]:
    ctx_mod = sys.modules.get("prefect.context")
    if ctx_mod is None:
        return {}
    out: dict[str, str] = {}
    task_ctx = ctx_mod.TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run is not None:
        out["task_run_id"] = str(task_ctx.task_run.id)
        if task_ctx.task_run.flow_run_id is not None:
            out["flow_run_id"] = str(task_ctx.task_run.flow_run_id)
    flow_ctx = ctx_mod.FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        out["flow_run_id"] = str(flow_ctx.flow_run.id)
    return out
