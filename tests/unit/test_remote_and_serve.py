"""Pure parts of the remote mode (state -> exit code, run ids) and of deployments/serve.py."""

from __future__ import annotations

import pytest
from prefect.states import Cancelled, Completed, Crashed, Failed

from foundry_dr import runbooks
from foundry_dr.deployments.serve import build_deployments, load_deployment_specs, load_flow, schedules_of
from foundry_dr.errors import BadAlert, RemoteError
from foundry_dr.exit_codes import ExitCode
from foundry_dr.remote import exit_code_for, parse_run_id
from foundry_dr.trigger import parse_alert


@pytest.mark.parametrize(
    ("state", "was_paused", "code"),
    [
        (Completed(), False, ExitCode.OK),
        (Failed(message="Flow run encountered an exception: RuntimeError: boom"), False, ExitCode.FAILED),
        (Crashed(message="process exited 137"), False, ExitCode.FAILED),
        (Failed(message="Flow run encountered an exception: RunbookRejected: cut-over: rejected at approval by a"),
         True, ExitCode.REJECTED),
        (Failed(message="cut-over: approval timed out: no approval within 60 min"), True, ExitCode.REJECTED),
        (Cancelled(), True, ExitCode.REJECTED),
        (Cancelled(), False, ExitCode.FAILED),
        (Failed(message="Flow run encountered an exception: LockHeld: cut-over: the failover lock of plan p is "
                        "held by fail-back (flow run 1, ...)"), False, ExitCode.LOCKED),
    ],
)
def test_exit_code_for(state, was_paused: bool, code: ExitCode) -> None:
    assert exit_code_for(state, was_paused) == code


def test_parse_run_id() -> None:
    assert str(parse_run_id("6c6b1a36-6a8f-4d43-9a46-1d7a0f2c9e11")) == "6c6b1a36-6a8f-4d43-9a46-1d7a0f2c9e11"
    with pytest.raises(RemoteError) as err:
        parse_run_id("cut-over")
    assert err.value.code == ExitCode.BAD_INPUT


def test_prefect_yaml_declares_every_runbook() -> None:
    """prefect.yaml is checked against the registry: one deployment per runbook, named after it,
    whose entrypoint is the runbook's flow, and whose flow carries the runbook's name."""
    specs = {s["name"]: s for s in load_deployment_specs()}
    assert list(specs) == list(runbooks.NAMES)
    for name, spec in specs.items():
        runbook = runbooks.get(name)
        assert spec["entrypoint"] == runbook.entrypoint
        assert load_flow(spec["entrypoint"]).name == name
        assert spec["enforce_parameter_schema"] is True and spec["concurrency_limit"] == 1
        assert spec["parameters"]["plan"] == "deployments/plans/sandbox.yaml"
        assert spec["work_pool"]["name"] == "foundry-dr"
    [interval] = schedules_of(specs["replicate-artifacts"])
    assert interval.interval.total_seconds() == 900
    [cron] = schedules_of(specs["dr-drill"])
    assert cron.cron == "0 3 * * 1" and cron.parameters == {"approve": True, "fence_primary": True}  # fenced (issue 19)


def test_serve_builds_the_same_deployments() -> None:
    deployments = {d.name: d for d in build_deployments()}
    assert list(deployments) == list(runbooks.NAMES)
    assert deployments["cut-over"].parameters["approve"] is False
    assert len(deployments["replicate-artifacts"].schedules) == 1
    assert deployments["cut-over"].enforce_parameter_schema


def test_parse_alert_rejects_what_is_not_a_common_schema_alert() -> None:
    with pytest.raises(BadAlert):
        parse_alert(b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": []}}')
    ok = parse_alert(b'{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": '
                     b'{"alertId": " a1 ", "monitorCondition": "Resolved"}}}')
    assert ok["alert_id"] == "a1" and ok["condition"] == "Resolved"
