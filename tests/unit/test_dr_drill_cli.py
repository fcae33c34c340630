"""The CLI's fenced drill options: `run dr-drill --fence-primary` and `drill --fence-primary` pass
``fence_primary=True`` to the flow; any other runbook refuses the option (exit 2, nothing run);
`drill` without a subcommand still needs --plan."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from foundry_dr import cli
from foundry_dr.exit_codes import ExitCode

SANDBOX_PLAN = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Stand-in flows (the CLI's FLOWS registry points at them): how each runbook was called."""
    seen: list[tuple[str, dict[str, Any]]] = []
    module = types.ModuleType("fake_drill_flows")
    for runbook in ("dr-drill", "cut-over"):
        def flow(_name: str = runbook, **kwargs: Any) -> None:
            seen.append((_name, kwargs))

        setattr(module, runbook.replace("-", "_"), flow)
        monkeypatch.setitem(cli.FLOWS, runbook, f"fake_drill_flows:{runbook.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, "fake_drill_flows", module)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return seen


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def test_run_dr_drill_fence_primary_reaches_the_flow(calls: list) -> None:
    result = invoke("run", "dr-drill", "--plan", str(SANDBOX_PLAN), "--approve", "--fence-primary")
    assert result.exit_code == ExitCode.OK, result.output
    assert [(n, k.get("fence_primary")) for n, k in calls] == [("dr-drill", True)]


def test_drill_fence_primary_reaches_the_flow_and_unfenced_passes_nothing(calls: list) -> None:
    assert invoke("drill", "--plan", str(SANDBOX_PLAN), "--fence-primary").exit_code == ExitCode.OK
    assert invoke("drill", "--plan", str(SANDBOX_PLAN)).exit_code == ExitCode.OK
    assert [k.get("fence_primary") for _, k in calls] == [True, None]


def test_fence_primary_on_another_runbook_is_bad_input(calls: list) -> None:
    result = invoke("run", "cut-over", "--plan", str(SANDBOX_PLAN), "--fence-primary")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "--fence-primary" in result.output and not calls


def test_drill_without_plan_says_so(calls: list) -> None:
    result = invoke("drill")
    assert result.exit_code == ExitCode.BAD_INPUT and "--plan" in result.output and not calls
