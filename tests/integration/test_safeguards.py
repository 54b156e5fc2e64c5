"""`flows.safeguards` on a real Prefect API (test harness): the gpu limit and the automations
are created once, and running it again changes nothing, where Prefect's CLI would fail
(`prefect gcl create` on an existing limit) or add copies (`prefect automation create`)."""

from __future__ import annotations

import pytest

from configs.errors import ConfigError
from flows.safeguards import AUTOMATIONS_DIR, main
from tasks.pipeline.safeguards import ensure_automation, ensure_concurrency_limit, load_automation

pytestmark = [pytest.mark.integration]

ZOMBIE = AUTOMATIONS_DIR / "crash-zombie-flow-runs.yaml"


def test_twice_is_the_same_as_once_and_duplicates_are_folded(prefect_harness, capsys):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.create_automation(load_automation(ZOMBIE))   # two copies, as two `prefect automation create` leave
        client.create_automation(load_automation(ZOMBIE))
        assert main([]) == 0
        assert main([]) == 0
        first, second = _halves(capsys)
        assert "'gpu': created with 1 slot(s)" in first and "updated, 1 duplicate(s) deleted" in first
        assert "'gpu': exists with 1 slot(s), active; left as it is" in second
        assert "automation 'crash-zombie-flow-runs': updated" in second and "duplicate" not in second
        (automation,) = client.read_automations_by_name("crash-zombie-flow-runs")
        assert automation.trigger.within.total_seconds() == 90 and automation.enabled
        assert client.read_global_concurrency_limit_by_name("gpu").limit == 1
        client.update_global_concurrency_limit("gpu", _limit(3))
        assert "exists with 3 slot(s)" in ensure_concurrency_limit(client, "gpu", 1)   # an operator's value stays
        assert ensure_automation(client, load_automation(ZOMBIE)).endswith("updated")
        client.delete_automation(automation.id)
        client.delete_global_concurrency_limit_by_name("gpu")


def _halves(capsys) -> tuple[str, str]:
    lines = capsys.readouterr().out.strip().splitlines()
    return "\n".join(lines[:2]), "\n".join(lines[2:])


def _limit(slots: int):
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    return GlobalConcurrencyLimitUpdate(limit=slots)


def test_a_broken_automation_file_names_itself_and_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrigger: {type: event, posture: Sideways}\nactions: []\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not a Prefect automation: trigger\.event\.posture: Input should be"):
        load_automation(bad)
    assert main(["--automation", str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err
