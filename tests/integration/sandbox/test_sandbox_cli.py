"""``foundry-dr sandbox`` fault and log commands against the session sandbox; exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from foundry_dr_sandbox.cli import app

runner = CliRunner()


def _run(sandbox, *args: str):
    return runner.invoke(app, [*args, "--dir", str(sandbox.dir)])


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["outage", "centralus"], "REGION"),
        (["outage", "eastus", "--mode", "404"], "--mode"),
        (["faults", "throttle", "--rate", "1.5"], "--rate"),
        (["faults", "throttle", "--rate", "-0.1"], "--rate"),
        (["faults", "fail-nth", "0"], "N"),
        (["faults", "fail-nth", "1", "--region", "mars"], "--region"),
    ],
)
def test_bad_input_exits_2_naming_the_option(sandbox, args: list[str], named: str) -> None:
    result = _run(sandbox, *args)
    assert result.exit_code == 2, result.output
    assert named in result.output


def test_outage_heal_and_faults_show(sandbox) -> None:
    assert _run(sandbox, "outage", "westus", "--mode", "reset").exit_code == 0
    shown = json.loads(_run(sandbox, "faults", "show").output)
    assert shown["outages"] == {"westus": "reset"}
    assert _run(sandbox, "outage", "westus", "--heal").exit_code == 0
    assert json.loads(_run(sandbox, "faults", "show").output)["outages"] == {}


def test_fault_commands_reach_the_engine(sandbox) -> None:
    assert _run(sandbox, "faults", "throttle", "--rate", "0.25", "--retry-after", "3").exit_code == 0
    assert _run(sandbox, "faults", "latency", "5").exit_code == 0
    result = _run(sandbox, "faults", "fail-nth", "2", "--status", "503", "--service", "storage")
    assert result.exit_code == 0, result.output
    state = json.loads(_run(sandbox, "faults", "show").output)
    assert (state["throttle_rate"], state["throttle_retry_after"], state["latency_ms"]) == (0.25, 3, 5)
    assert state["fail_nth"][0]["n"] == 2 and state["fail_nth"][0]["service"] == "storage"
    assert _run(sandbox, "faults", "heal").exit_code == 0
    assert json.loads(_run(sandbox, "faults", "show").output)["throttle_rate"] == 0


def test_requests_json_lists_the_log(sandbox) -> None:
    result = _run(sandbox, "requests", "--json", "--service", "keyvault")
    assert result.exit_code == 0, result.output
    assert all(e["service"] == "keyvault" for e in json.loads(result.output))


def test_env_without_json_prints_no_secrets(sandbox, sandbox_env) -> None:
    result = _run(sandbox, "env")
    assert result.exit_code == 0
    assert sandbox_env["credential"]["client_secret"] not in result.output
    assert all(a["key"] not in result.output for a in sandbox_env["storage_accounts"].values())


def test_commands_on_a_stopped_sandbox_exit_1(tmp_path) -> None:
    result = runner.invoke(app, ["faults", "show", "--dir", str(tmp_path)])
    assert result.exit_code == 1
