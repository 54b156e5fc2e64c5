"""One slot of a Prefect global concurrency limit around a run's GPU work, so two runs (two
nightlies, a nightly and an on-demand benchmark) never train or serve on one GPU at once.

Prefect's `concurrency()` (3.9) does the holding: it takes the slot with a lease, renews the
lease from a thread at 3/4 of its duration, and releases it when the block exits, normally or
by an exception. A process killed with SIGKILL cannot release: its lease simply stops being
renewed and the server's repossessor frees the slot once it expires (`lease_s`, plus the
repossessor's 15 s sweep). A Prefect server without the limit is not an error: the run goes
ahead and says so, so a fresh `mlops pipeline` server or the test harness need no setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def gpu_slot(limit: str | None, lease_s: float, log: logging.Logger | logging.LoggerAdapter,
             run_id: str | None = None) -> Iterator[None]:
    """Hold one slot of the global concurrency limit `limit` for the duration of the block.

    Waits (without a timeout) while the limit is full, logging one "waiting for a gpu slot"
    line first. `limit=None` takes nothing; a limit the server does not have is logged once
    and the block runs without a slot. `run_id` (the flow run) is recorded as the lease holder.
    """
    if limit is None:
        log.info("gpu slot: none taken (orchestration.gpu_limit is null)")
        yield
        return
    state = _read_limit(limit)
    if state is None or not state.active:
        why = "does not exist on the Prefect server" if state is None else "is inactive"
        log.warning("gpu slot: global concurrency limit %r %s; running without one (create it: "
                    "prefect gcl create %s --limit 1)", limit, why, limit)
        yield
        return
    from prefect.concurrency.sync import concurrency

    if state.active_slots >= state.limit:
        log.info("waiting for a gpu slot: %s of %s slots of limit %r are taken", state.active_slots, state.limit, limit)
    started = time.monotonic()
    with concurrency(limit, occupy=1, lease_duration=lease_s, strict=False, holder=_holder(run_id),
                     raise_on_lease_renewal_failure=False):
        taken = time.monotonic()
        log.info("gpu slot of limit %r taken after %.1f s (lease %.0f s)", limit, taken - started, lease_s)
        try:
            yield
        finally:
            log.info("gpu slot of limit %r released after %.1f s held", limit, time.monotonic() - taken)


def _read_limit(name: str) -> Any:
    """The limit as the server has it (limit, active_slots, active), or None when it has none."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None


def _holder(run_id: str | None) -> Any:
    if not run_id:
        return None
    from uuid import UUID

    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

    return ConcurrencyLeaseHolder(type="flow_run", id=UUID(str(run_id)))
