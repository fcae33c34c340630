"""`foundry-dr approve` / `reject` answer the real approval gate of flows/common.py.

The gate runs in a flow on Prefect's test harness and pauses with the ApprovalInput form;
the CLI (in this process, same API) resumes it. The end-to-end reject of a deployed cut-over
through `prefect server start` and a worker is in runbooks/test_prefect_deploy.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from typer.testing import CliRunner

from foundry_dr.cli import app
from foundry_dr.errors import RunbookRejected
from foundry_dr.flows.common import approval_gate
from foundry_dr.plan import load_plan

PLAN = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"


@flow(name="approval-gate-under-test")
def gated() -> dict:
    """cut-over's gate (approvals.cut-over is `required` in the sandbox plan), nothing else."""
    return approval_gate("cut-over", load_plan(PLAN), approve=False, summary="test", poll_interval=1)


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def run_until_paused() -> tuple[threading.Thread, dict[str, Any], UUID]:
    """Start the gated flow in a thread; return once its run is Paused."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = gated()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["approval-gate-under-test"])),
                                         sort=FlowRunSort.START_TIME_DESC, limit=1)  # fmt: skip
            if runs and runs[0].state.is_paused():
                return thread, outcome, runs[0].id
            assert time.monotonic() - started < 60 and thread.is_alive(), f"never paused: {outcome}"
            time.sleep(0.5)


def test_approve_resumes_with_the_approver(harness: None) -> None:
    thread, outcome, run_id = run_until_paused()
    result = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice@contoso", "--reason", "CHG-7"])
    assert result.exit_code == 0, result.output
    thread.join(60)
    assert outcome["result"] == {"decision": "approved", "approver": "alice@contoso", "reason": "CHG-7"}
    again = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice", "--reason", "twice"])
    assert again.exit_code == 2 and "not paused" in again.output


def test_reject_stops_the_runbook(harness: None) -> None:
    thread, outcome, run_id = run_until_paused()
    result = CliRunner().invoke(app, ["reject", str(run_id), "--approver", "bob", "--reason", "INC-9 false alarm"])
    assert result.exit_code == 0, result.output
    thread.join(60)
    assert isinstance(outcome["error"], RunbookRejected) and outcome["error"].approver == "bob"


@pytest.mark.parametrize("run_id", ["nope", "00000000-0000-4000-8000-00000000000"])
def test_malformed_id_is_bad_input(harness: None, run_id: str) -> None:
    result = CliRunner().invoke(app, ["approve", run_id, "--approver", "a", "--reason", "b"])
    assert result.exit_code == 2 and "not a flow run id" in result.output


def test_unknown_run_is_bad_input(harness: None) -> None:
    result = CliRunner().invoke(app, ["reject", "6c6b1a36-6a8f-4d43-9a46-1d7a0f2c9e11", "--approver", "a",
                                      "--reason", "b"])  # fmt: skip
    assert result.exit_code == 2 and "no flow run" in result.output
