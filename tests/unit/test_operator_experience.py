"""Issue 20, the pure parts: exit codes of a lock conflict and a rejection, report cells in words,
artifact descriptions that read as sentences, and the approval forms' schemas."""

from __future__ import annotations

import pytest
from prefect.states import Cancelled, Failed

from foundry_dr.errors import FoundryDrError, LockHeld, RunbookRejected
from foundry_dr.exit_codes import ExitCode
from foundry_dr.flows.common import ApprovalInput, UnplannedApprovalInput, _describe, cell, rejected
from foundry_dr.remote import exit_code_for


def test_a_lock_conflict_has_its_own_exit_code() -> None:
    assert LockHeld("held").exit_code == ExitCode.LOCKED == 4
    assert LockHeld("held").exit_code not in (FoundryDrError().exit_code, RunbookRejected("x").exit_code)
    failed = Failed(message="Flow run encountered an exception: LockHeld: cut-over: the failover lock of plan p is "
                            "held by fail-back (flow run 1)")  # fmt: skip
    assert exit_code_for(failed) == ExitCode.LOCKED


def test_a_rejection_is_a_cancelled_state_named_rejected_with_one_line() -> None:
    exc = RunbookRejected("cut-over", "INC-1\nnot now", approver="bob")
    state = rejected(exc)
    assert (state.type.value, state.name) == ("CANCELLED", "Rejected")
    assert state.message == "cut-over: rejected at approval by bob: INC-1 not now"
    assert exit_code_for(state) == ExitCode.REJECTED  # even when the follower never saw the pause
    assert exit_code_for(Cancelled()) == ExitCode.FAILED  # a cancel that is no rejection


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("JobStatus.STARTING", "starting"),
        ({"standardDSv2Family": 32, "standardNCFamily": 6}, "standardDSv2Family: 32, standardNCFamily: 6"),
        (None, ""),
        (True, "yes"),
        (["a", "b"], "a, b"),
        ("hub-contoso.westus", "hub-contoso.westus"),
        ("v1.2", "v1.2"),
        ("Data.CSV", "Data.CSV"),  # a blob name, not an enum
        ("ProvisioningState.SUCCEEDED", "succeeded"),
    ],
)
def test_cells_in_words(value: object, text: str) -> None:
    assert cell(value) == text


def test_a_str_enum_is_its_value_in_words() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import JobStatus  # str() is "JobStatus.STARTING"

    assert cell(JobStatus.STARTING) == "starting"


@pytest.mark.parametrize(
    ("key", "description"),
    [
        ("cut-over-report", "Cut-over report for plan p"),
        ("cut-over-jobs", "Cut-over jobs for plan p"),
        ("replicate-artifacts-problems", "Replicate-artifacts problems for plan p"),
        ("dr-drill-report", "Dr-drill report for plan p"),
    ],
)
def test_artifact_descriptions_do_not_repeat(key: str, description: str) -> None:
    assert _describe(key, "p") == description


def test_the_forms_have_no_defaults() -> None:
    schema = ApprovalInput.model_json_schema()
    assert schema["required"] == ["decision", "approver", "reason"]
    assert schema["properties"]["decision"]["enum"] == ["approve", "reject"]
    assert all("default" not in p for p in schema["properties"].values())
    assert schema["properties"]["approver"]["minLength"] == 1
    unplanned = UnplannedApprovalInput.model_json_schema()
    assert "confirm_unplanned" in unplanned["required"]
    assert "default" not in unplanned["properties"]["confirm_unplanned"]
