"""The `orchestration` config section: how a run shares the machine with other runs.

    orchestration:
      gpu_limit: gpu        # Prefect global concurrency limit a run holds one slot of while it
                            # uses the GPU (training through stopping vLLM); null: take none
      gpu_lease_s: 120      # a killed run's slot is freed this long after its last renewal

The limit lives on the Prefect server (`prefect gcl create gpu --limit 1`, or
`python -m flows.safeguards`); where it does not exist a run goes ahead without a slot and
logs that it did. See docs/deployments.md, "One GPU, one run at a time".
"""

from __future__ import annotations

from pydantic import Field

from configs._base import Section


class OrchestrationConfig(Section):
    gpu_limit: str | None = Field("gpu", min_length=1, description=(
        "Prefect global concurrency limit of which a run holds one slot while it trains or serves on the GPU "
        "(create it once: prefect gcl create gpu --limit 1). None: no slot is taken."))
    # Prefect's server accepts leases of 60 s to 1 day; the client renews at 3/4 of it.
    gpu_lease_s: float = Field(120.0, ge=60, le=86_400, description=(
        "Lease of the slot: renewed while the run lives; a run killed with SIGKILL frees its slot at most this "
        "long (plus the server's 15 s sweep) after its last renewal."))
