"""cut-over on the sandbox: rejection, the lock, an unplanned failover approved through the API.

The tests of this module run in order on the shared seeded sandbox (replicated, standby
deployments in the secondary) and end with the primary healed; fail-back tests follow in
test_fail_back.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
from prefect.flow_runs import resume_flow_run

from flows.common import LockHeld
from flows.cut_over import cut_over
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import RunbookRejected
from foundry_dr.plan import Plan
from foundry_dr.pointer_store import read_pointer

pytestmark = pytest.mark.usefixtures("prefect")


def paused_run_ids() -> set[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"])))
        )
    return {str(r.id) for r in runs}


def wait_for_paused(before: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = paused_run_ids() - before
        if new:
            return new.pop()
        time.sleep(0.5)
    raise AssertionError("no run paused for approval")


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def production_state(factory: ClientFactory, plan: Plan) -> dict[str, Any]:
    """What a failed or rejected cut-over must not change: pointer, instance counts, schedules."""
    state: dict[str, Any] = {"pointer": read_pointer(factory)[0].active}
    for side in ("primary", "secondary"):
        for project in plan.side(side).projects:
            ml = factory.ml_client(side, project)
            for ep in ml.online_endpoints.list():
                for d in ml.online_deployments.list(endpoint_name=ep.name):
                    state[f"{side}/{project}/{ep.name}/{d.name}"] = d.instance_count
            for s in ml.schedules.list(list_view_type="All"):
                state[f"{side}/{project}/schedule/{s.name}"] = bool(s.is_enabled)
    return state


def test_rejection_changes_nothing(standby_ready, plan: Plan) -> None:
    factory = ClientFactory(plan)
    before_state = production_state(factory, plan)
    before = paused_run_ids()
    thread, box = in_thread(lambda: cut_over(plan=plan, mode="auto", reason="test", approval_poll_seconds=1))
    run_id = wait_for_paused(before)
    resume_flow_run(run_id, run_input={"approve": False, "approver": "oncall", "reason": "INC-1 not now"})
    thread.join(120)
    assert isinstance(box.get("error"), RunbookRejected), box
    assert production_state(factory, plan) == before_state


def test_a_second_cut_over_fails_naming_the_lock(standby_ready, plan: Plan) -> None:
    before = paused_run_ids()
    thread, box = in_thread(lambda: cut_over(plan=plan, reason="first", approval_poll_seconds=1))
    first = wait_for_paused(before)  # holds the lock while it waits for approval
    with pytest.raises(LockHeld, match=f"held by cut-over \\(flow run {first}"):
        cut_over(plan=plan, reason="second", lock_wait_seconds=2)
    resume_flow_run(first, run_input={"approve": False, "approver": "oncall", "reason": "test over"})
    thread.join(120)
    assert isinstance(box.get("error"), RunbookRejected)


def test_unplanned_cut_over_approved_through_the_api(standby_ready, plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(plan)
    control(sandbox, "POST", "/faults", {"outage": {"region": plan.primary.location}})
    try:
        before = paused_run_ids()
        thread, box = in_thread(lambda: cut_over(plan=plan, reason="eastus down", approval_poll_seconds=1))
        run_id = wait_for_paused(before)
        resume_flow_run(run_id, run_input={"approve": True, "approver": "oncall@contoso", "reason": "INC-42"})
        thread.join(300)
        assert "error" not in box, box.get("error")
        result = box["result"]
        assert result["mode"] == "unplanned"
        assert result["approval"]["approver"] == "oncall@contoso"
        pointer, source = read_pointer(factory)
        assert (pointer.active, source, pointer.approver) == ("secondary", "key-vault", "oncall@contoso")
        assert pointer.hub == plan.secondary.hub
        # endpoints answer in the secondary, at production size (the primary's count: 2)
        for project in plan.secondary.projects:
            ml = factory.ml_client("secondary", project)
            for ep in ml.online_endpoints.list():
                for d in ml.online_deployments.list(endpoint_name=ep.name):
                    assert d.instance_count == 2, (ep.name, d.name, d.instance_count)
                key = ml.online_endpoints.get_keys(ep.name).primary_key
                resp = httpx.post(pointer.scoring_uris[ep.name], json={"input_data": [[1, 2]]},
                                  headers={"Authorization": f"Bearer {key}"}, verify=str(sandbox.ca_path))
                assert resp.status_code == 200 and resp.json()["region"] == plan.secondary.location
        assert result["smoke"] and all(s["ok"] for s in result["smoke"])
        # interrupted jobs (Running in the checkpoint's snapshot) were resubmitted in the secondary
        resubmitted = [j for j in result["jobs"] if j["result"] == "resubmitted"]
        assert len(resubmitted) >= 2, result["jobs"]
        names = {j.name for p in plan.secondary.projects for j in factory.ml_client("secondary", p).jobs.list()}
        assert {j["new_job"] for j in resubmitted} <= names
        assert result["rpo"]["checkpoint"] is not None and result["rto_seconds"] > 0
    finally:
        control(sandbox, "POST", "/heal")
