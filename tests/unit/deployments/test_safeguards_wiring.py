"""The dead-worker automation and the heartbeats it waits for are wired together: every
process that runs our deployments' flows heartbeats often enough for the automation's window
(or healthy runs would be marked crashed), and registering the stack installs both safeguards."""

from __future__ import annotations

from pathlib import Path

import yaml

from tasks.pipeline.safeguards import load_automation

DEPLOY = Path(__file__).resolve().parents[3] / "deployments"
AUTOMATION = DEPLOY / "automations" / "crash-zombie-flow-runs.yaml"
MIN_MISSED = 3   # heartbeats a run may miss (a slow API, a GC pause) before it counts as dead


def _window_s() -> float:
    return load_automation(AUTOMATION).trigger.within.total_seconds()


def test_the_automation_crashes_silent_runs_of_deployments_only():
    automation = load_automation(AUTOMATION)
    trigger, (action,) = automation.trigger, automation.actions
    assert trigger.posture == "Proactive" and trigger.after == {"prefect.flow-run.heartbeat"}
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}   # one window per flow run, not one for all
    assert action.type == "change-flow-run-state" and action.state == "CRASHED" and not action.force


def test_deployments_and_the_compose_worker_heartbeat_within_the_window():
    pool = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())["definitions"]["work_pools"]["local"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    worker_env = compose["services"]["prefect-worker"]["environment"]
    for where, env in (("prefect.yaml work pool job_variables", pool["job_variables"]["env"]),
                       ("docker-compose prefect-worker", worker_env)):
        beat = float(env.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", 180))   # Prefect 3.9's default
        assert 30 <= beat <= _window_s() / MIN_MISSED, (
            f"{where}: PREFECT_FLOWS_HEARTBEAT_FREQUENCY={beat} s, but {AUTOMATION.name} marks a run crashed after "
            f"{_window_s():.0f} s: keep it between 30 and {_window_s() / MIN_MISSED:.0f}")


def test_registering_the_stack_installs_the_safeguards():
    lines = (DEPLOY / "register-stack.sh").read_text().splitlines()
    assert any(line.startswith("${MLOPS_SAFEGUARDS_PYTHON:-python} -m flows.safeguards") for line in lines), \
        "register-stack.sh: run `python -m flows.safeguards` (gpu limit + automations)"
