"""What a shared Prefect server needs before runs can share a GPU and survive a dead worker:
the global concurrency limit the flows take a GPU slot of, and the automations under
deployments/automations/ (a run whose heartbeats stop is marked crashed).

Both are made idempotent here, which Prefect's CLI is not: `prefect gcl create` fails when the
limit exists and `prefect automation create` adds one more copy on every call. Each function
takes a synchronous Prefect client and returns one line saying what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.errors import ConfigError


def ensure_concurrency_limit(client: Any, name: str, slots: int) -> str:
    """Create the limit with `slots` slots when the server has none; an existing limit is left
    as it is (an operator may have raised it on a bigger machine)."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    try:
        found = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
        return f"global concurrency limit {name!r}: created with {slots} slot(s)"
    state = "active" if found.active else "INACTIVE (not enforced: prefect gcl enable " + name + ")"
    return f"global concurrency limit {name!r}: exists with {found.limit} slot(s), {state}; left as it is"


def load_automation(path: Path) -> Any:
    """The automation a YAML/JSON file describes (the format `prefect automation create
    --from-file` reads), validated; a bad file names itself and the field."""
    import yaml
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # JSON is YAML too
        return AutomationCore.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the automation file: {exc}") from exc
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: not a Prefect automation: {fields}") from exc


def ensure_automation(client: Any, automation: Any) -> str:
    """Create the automation, or bring the one of the same name up to date (extra copies of it,
    e.g. from repeated `prefect automation create`, are deleted so it fires once per run)."""
    existing = client.read_automations_by_name(automation.name)
    if not existing:
        client.create_automation(automation)
        return f"automation {automation.name!r}: created"
    keep, *extra = sorted(existing, key=lambda a: str(a.id))
    client.update_automation(keep.id, automation)
    for duplicate in extra:
        client.delete_automation(duplicate.id)
    removed = f", {len(extra)} duplicate(s) deleted" if extra else ""
    return f"automation {automation.name!r}: updated{removed}"
