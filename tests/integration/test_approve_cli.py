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
from foundry_dr.errors import PlanError, RunbookRejected
from foundry_dr.exit_codes import ExitCode
from foundry_dr.flows.common import approval_gate, rejected
from foundry_dr.plan import apply_overrides, load_plan

PLAN = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"


@flow(name="approval-gate-under-test")
def gated(two_approvers: bool = False, confirm_unplanned: bool = False, reason: str = "") -> Any:
    """cut-over's gate (approvals.cut-over is `required` in the sandbox plan), nothing else; a
    rejection ends the run as the runbooks end it."""
    plan = load_plan(PLAN)
    if two_approvers:
        plan = apply_overrides(plan, ["approvals.two_approvers=[cut-over]"])
    try:
        return approval_gate("cut-over", plan, approve=False, summary="- will change: test", poll_interval=1,
                             reason=reason, confirm_unplanned=confirm_unplanned)  # fmt: skip
    except RunbookRejected as exc:
        return rejected(exc)


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _latest_run() -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["approval-gate-under-test"])),
                                     sort=FlowRunSort.START_TIME_DESC, limit=1)  # fmt: skip
    return runs[0] if runs else None


def wait_paused(run_id: UUID | None = None, after: Any = None, timeout: float = 60) -> Any:
    """The run (the newest one, or ``run_id``) once it is Paused with its form registered, and
    (``after``: a previous pause's state id) a pause newer than that one."""
    from prefect import get_client

    started = time.monotonic()
    while True:
        if run_id is None:
            run = _latest_run()
        else:
            with get_client(sync_client=True) as client:
                run = client.read_flow_run(run_id)
        if run and run.state.is_paused() and run.state.id != after:
            keyset = run.state.state_details.run_input_keyset
            if keyset and form_text(run.id, keyset["schema"]) is not None:
                return run
        assert time.monotonic() - started < timeout, f"never paused: {run and run.state}"
        time.sleep(0.3)


def form_text(run_id: UUID, key: str) -> str | None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        try:
            return client.read_flow_run_input(flow_run_id=run_id, key=key)
        except Exception:  # noqa: BLE001 - not written yet
            return None


def run_until_paused(**parameters: Any) -> tuple[threading.Thread, dict[str, Any], UUID]:
    """Start the gated flow in a thread; return once its run is Paused."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = gated(**parameters)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    before = _latest_run()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    started = time.monotonic()
    while (run := _latest_run()) is None or (before is not None and run.id == before.id):
        assert time.monotonic() - started < 60 and thread.is_alive(), f"never started: {outcome}"
        time.sleep(0.3)
    return thread, outcome, wait_paused(run.id).id


def test_approve_resumes_with_the_approver(harness: None) -> None:
    thread, outcome, run_id = run_until_paused()
    result = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice@contoso", "--reason", "CHG-7"])
    assert result.exit_code == 0, result.output
    thread.join(60)
    assert outcome["result"] == {"decision": "approved", "approver": "alice@contoso", "reason": "CHG-7"}
    again = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice", "--reason", "twice"])
    assert again.exit_code == 2 and "not paused" in again.output


def test_reject_stops_the_runbook_in_a_state_named_rejected(harness: None) -> None:
    from prefect import get_client

    from foundry_dr.remote import exit_code_for

    thread, outcome, run_id = run_until_paused()
    result = CliRunner().invoke(app, ["reject", str(run_id), "--approver", "bob", "--reason", "INC-9 false alarm"])
    assert result.exit_code == 0, result.output
    thread.join(60)
    assert isinstance(outcome["error"], RunbookRejected) and outcome["error"].approver == "bob"
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    # not Failed with a traceback: Cancelled, named Rejected, one line; the CLI's exit code 3
    assert (state.type.value, state.name) == ("CANCELLED", "Rejected"), state
    assert state.message == "cut-over: rejected at approval by bob: INC-9 false alarm"
    assert exit_code_for(state, was_paused=True) == ExitCode.REJECTED


@pytest.mark.parametrize(
    "answer",
    [
        {},  # the untouched form
        {"approver": "alice", "reason": "INC-1"},  # no decision: it has no default
        {"decision": "approve", "reason": "INC-1"},  # no approver
        {"decision": "approve", "approver": "alice"},  # no reason
        {"decision": "approve", "approver": " ", "reason": "INC-1"},  # a blank approver
        {"decision": "approve", "approver": "alice", "reason": ""},  # an empty reason
        {"decision": "yes", "approver": "alice", "reason": "INC-1"},  # not one of the choices
        {"approve": True, "approver": "alice", "reason": "INC-1"},  # the old form's switch
    ],
    ids=["empty", "no-decision", "no-approver", "no-reason", "blank-approver", "empty-reason", "bad-choice",
         "old-switch"],
)
def test_the_server_refuses_an_incomplete_answer(harness: None, answer: dict[str, Any]) -> None:
    """The form's schema has no defaults: Prefect's API refuses the answer and the run stays paused."""
    from prefect import get_client
    from prefect.flow_runs import resume_flow_run

    thread, outcome, run_id = run_until_paused()
    with pytest.raises(RuntimeError, match="Cannot resume this run"):
        resume_flow_run(run_id, run_input=answer)
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run_id).state.is_paused()
    resume_flow_run(run_id, run_input={"decision": "reject", "approver": "test", "reason": "cleanup"})
    thread.join(60)
    assert isinstance(outcome.get("error"), RunbookRejected), outcome


def test_the_form_shows_the_trigger_reason_and_the_assessment_is_an_artifact(harness: None) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    thread, outcome, run_id = run_until_paused(reason="INC-1234 eastus down")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["cut-over-assessment"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])),
        )
    description = form_text(run_id, run.state.state_details.run_input_keyset["description"])
    assert "INC-1234 eastus down" in description and "will change: test" in description
    # published before the pause: visible next to the form while the run waits
    assert len(artifacts) == 1 and "INC-1234" in artifacts[0].data and "will change: test" in artifacts[0].data
    assert artifacts[0].description == "What cut-over will change for plan contoso-sandbox (awaiting approval)"
    CliRunner().invoke(app, ["reject", str(run_id), "--approver", "t", "--reason", "cleanup"])
    thread.join(60)


def test_two_approvers_must_be_two_people(harness: None) -> None:
    thread, outcome, run_id = run_until_paused(two_approvers=True)
    first_pause = wait_paused(run_id).state.id
    first = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice@contoso", "--reason", "CHG-7"])
    assert first.exit_code == 0, first.output
    # the second approval is its own pause; the first approver can't give it
    second_pause = wait_paused(run_id, after=first_pause).state.id
    same = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "Alice@Contoso ", "--reason", "me again"])
    assert same.exit_code == 0, same.output  # the form took it; the gate does not
    again = wait_paused(run_id, after=second_pause)
    text = form_text(run_id, again.state.state_details.run_input_keyset["description"])
    assert "Not accepted" in text and "someone else" in text and "alice@contoso" in text
    assert thread.is_alive() and "result" not in outcome
    second = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "bob@contoso", "--reason", "CHG-7 ok"])
    assert second.exit_code == 0, second.output
    thread.join(60)
    result = outcome["result"]
    assert result["approver"] == "alice@contoso, bob@contoso"
    assert [a["approver"] for a in result["approvers"]] == ["alice@contoso", "bob@contoso"]


def test_two_approvers_plan_setting_is_checked() -> None:
    plan = load_plan(PLAN)
    assert plan.approvals.approvers_required("cut-over") == 1
    assert apply_overrides(plan, ["approvals.two_approvers=[cut-over, fail-back]"]).approvals.approvers_required(
        "fail-back") == 2  # fmt: skip
    with pytest.raises(PlanError, match="only cut-over and fail-back can require two approvers"):
        apply_overrides(plan, ["approvals.two_approvers=[replicate-artifacts]"])
    with pytest.raises(PlanError, match="set approvals.cut-over: required"):
        apply_overrides(plan, ["approvals.two_approvers=[cut-over]", "approvals.cut-over=auto"])


def test_an_unplanned_cut_over_of_a_healthy_primary_needs_the_confirmation(harness: None) -> None:
    thread, outcome, run_id = run_until_paused(confirm_unplanned=True)
    plain = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice", "--reason", "INC-5"])
    assert plain.exit_code == ExitCode.BAD_INPUT and "--confirm-unplanned" in plain.output
    confirmed = CliRunner().invoke(app, ["approve", str(run_id), "--approver", "alice", "--reason", "INC-5",
                                         "--confirm-unplanned"])  # fmt: skip
    assert confirmed.exit_code == 0, confirmed.output
    thread.join(60)
    assert outcome["result"] == {"decision": "approved", "approver": "alice", "reason": "INC-5"}


@pytest.mark.parametrize("run_id", ["nope", "00000000-0000-4000-8000-00000000000"])
def test_malformed_id_is_bad_input(harness: None, run_id: str) -> None:
    result = CliRunner().invoke(app, ["approve", run_id, "--approver", "a", "--reason", "b"])
    assert result.exit_code == 2 and "not a flow run id" in result.output


def test_unknown_run_is_bad_input(harness: None) -> None:
    result = CliRunner().invoke(app, ["reject", "6c6b1a36-6a8f-4d43-9a46-1d7a0f2c9e11", "--approver", "a",
                                      "--reason", "b"])  # fmt: skip
    assert result.exit_code == 2 and "no flow run" in result.output
