"""Failover end to end on the sandbox: cut-over rejected, locked, approved through the API during
an outage of the primary; fail-back refused while it is down, then bringing everything home.

The tests of this module run in order on the shared seeded sandbox and leave it as they found
it: the primary active, the secondary at standby size.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
from prefect.flow_runs import resume_flow_run
from typer.testing import CliRunner

from foundry_dr.cli import app
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import FailBackRefused, LockHeld, RunbookRejected
from foundry_dr.exit_codes import ExitCode
from foundry_dr.flows.cut_over import cut_over
from foundry_dr.flows.fail_back import fail_back
from foundry_dr.plan import Plan
from foundry_dr.state_layout import CONFLICTS_PREFIX, STATE_CONTAINER
from foundry_dr.stores.pointer import read_pointer

PLAN_PATH = Path(__file__).resolve().parents[3] / "deployments" / "plans" / "sandbox.yaml"

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
    resume_flow_run(run_id, run_input={"decision": "reject", "approver": "oncall", "reason": "INC-1 not now"})
    thread.join(120)
    assert isinstance(box.get("error"), RunbookRejected), box
    assert production_state(factory, plan) == before_state
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    # a named run, and a rejection is its own final state with one line, not a Failed traceback
    assert run.name == f"cut-over · {plan.name} · auto"
    assert (run.state.type.value, run.state.name) == ("CANCELLED", "Rejected")
    assert run.state.message == "cut-over: rejected at approval by oncall: INC-1 not now"


def test_a_second_cut_over_fails_naming_the_lock(standby_ready, plan: Plan) -> None:
    before = paused_run_ids()
    thread, box = in_thread(lambda: cut_over(plan=plan, reason="first", approval_poll_seconds=1))
    first = wait_for_paused(before)  # holds the lock while it waits for approval
    with pytest.raises(LockHeld, match=f"held by cut-over \\(flow run {first}"):
        cut_over(plan=plan, reason="second", lock_wait_seconds=2)
    # the CLI: a lock conflict has its own exit code (4), not a runbook failure's (1)
    cli = CliRunner().invoke(app, ["run", "cut-over", "--plan", str(PLAN_PATH), "--set", "locks.wait_seconds=1"])
    assert cli.exit_code == ExitCode.LOCKED != ExitCode.FAILED, cli.output
    assert "held by cut-over" in cli.output, cli.output
    resume_flow_run(first, run_input={"decision": "reject", "approver": "oncall", "reason": "test over"})
    thread.join(120)
    assert isinstance(box.get("error"), RunbookRejected)


def test_unplanned_cut_over_approved_through_the_api(standby_ready, plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(plan)
    control(sandbox, "POST", "/faults", {"outage": {"region": plan.primary.location}})
    try:
        before = paused_run_ids()
        thread, box = in_thread(lambda: cut_over(plan=plan, reason="eastus down", approval_poll_seconds=1))
        run_id = wait_for_paused(before)
        resume_flow_run(run_id, run_input={"decision": "approve", "approver": "oncall@contoso", "reason": "INC-42"})
        thread.join(300)
        assert "error" not in box, box.get("error")
        result = box["result"]
        assert result["mode"] == "unplanned"
        assert result["approval"]["approver"] == "oncall@contoso"
        pointer, source = read_pointer(factory)
        # the vault (in eastus) is read-only during the outage: the flip went to the regions' stores
        assert (pointer.active, pointer.approver) == ("secondary", "oncall@contoso")
        assert source.startswith("storage (secondary") and "STALE" not in source, source
        assert pointer.hub == plan.secondary.hub
        # endpoints answer in the secondary, at production size (the primary's count: 2)
        for project in plan.secondary.projects:
            ml = factory.ml_client("secondary", project)
            for ep in ml.online_endpoints.list():
                for d in ml.online_deployments.list(endpoint_name=ep.name):
                    assert d.instance_count == 2, (ep.name, d.name, d.instance_count)
                key = ml.online_endpoints.get_keys(ep.name).primary_key
                resp = httpx.post(
                    pointer.scoring_uris[ep.name],
                    json={"input_data": [[1, 2]]},
                    headers={"Authorization": f"Bearer {key}"},
                    verify=str(sandbox.ca_path),
                )
                assert resp.status_code == 200 and resp.json()["region"] == plan.secondary.location
        assert result["smoke"] and all(s["ok"] for s in result["smoke"])
        # interrupted jobs (Running in the checkpoint's snapshot) were resubmitted in the secondary
        resubmitted = [j for j in result["jobs"] if j["result"] == "resubmitted"]
        assert len(resubmitted) >= 2, result["jobs"]
        names = {j.name for p in plan.secondary.projects for j in factory.ml_client("secondary", p).jobs.list()}
        assert {j["new_job"] for j in resubmitted} <= names
        # ... from their whole spec: code, inputs, environment variables and distribution came along,
        # every reference pointing at the secondary workspace (the sandbox refuses unresolved ones)
        rc = factory.resource_client(plan.secondary.subscription_id)
        for row in resubmitted:
            ws = (f"/subscriptions/{plan.secondary.subscription_id}/resourceGroups/{plan.secondary.resource_group}"
                  f"/providers/Microsoft.MachineLearningServices/workspaces/{row['workspace']}")  # fmt: skip
            props = rc.resources.get_by_id(f"{ws}/jobs/{row['new_job']}", api_version="2024-04-01").properties
            assert props["codeId"].lower().startswith(f"{ws}/codes/".lower()), props["codeId"]
            assert props["inputs"]["data"]["uri"].lower().startswith(f"azureml:{ws}/data/".lower()), props["inputs"]
            assert props["inputs"]["epochs"]["value"] == "10"
            assert props["environmentVariables"] == {"LOG_LEVEL": "info"}
            assert props["distribution"]["distributionType"] == "PyTorch"
            assert props["tags"]["foundry-dr.resubmitted-from"] == row["job"]
        assert result["rpo"]["checkpoint"] is not None and result["rto_seconds"] > 0
    finally:
        control(sandbox, "POST", "/heal")


def test_cut_over_when_the_secondary_serves_changes_nothing(standby_ready, plan: Plan, control, sandbox) -> None:
    """The secondary already serves (the cut-over above): a cut-over has nothing to do, in any mode and
    whatever the primary's health, and says so without pausing, syncing or flipping (a final sync
    from the old primary over the serving secondary would lose the secondary's writes)."""
    factory = ClientFactory(plan)
    before_pointer = read_pointer(factory)[0]
    assert before_pointer.active == "secondary"
    before_state = production_state(factory, plan)
    # primary healthy, asked for a planned cut-over, not pre-approved: must not pause or sync
    result = cut_over(plan=plan, mode="planned", reason="again")
    assert result["nothing_to_do"] is True and "already serves" in result["summary"], result
    # primary down, planned: still "nothing to do", not a refusal about the primary's health
    control(sandbox, "POST", "/faults", {"outage": {"region": plan.primary.location}})
    try:
        result = cut_over(plan=plan, mode="planned", reason="again, during the outage")
    finally:
        control(sandbox, "POST", "/heal")
    assert result["nothing_to_do"] is True and "nothing changed" in result["summary"], result
    after_pointer = read_pointer(factory)[0]
    assert (after_pointer.active, after_pointer.version, after_pointer.fencing_token) == (
        "secondary", before_pointer.version, before_pointer.fencing_token)
    assert production_state(factory, plan) == before_state


def test_fail_back_refused_while_the_primary_is_down(standby_ready, plan: Plan, control, sandbox) -> None:
    factory = ClientFactory(plan)
    before = read_pointer(factory)[0]
    control(sandbox, "POST", "/faults", {"outage": {"region": plan.primary.location}})
    try:
        with pytest.raises(FailBackRefused, match="primary is not healthy"):
            fail_back(plan=plan, approve=True)
    finally:
        control(sandbox, "POST", "/heal")
    after = read_pointer(factory)[0]
    assert (after.active, after.version) == (before.active, before.version) == ("secondary", before.version)


def test_fail_back_loses_nothing_and_keeps_both_versions_of_a_conflict(
    standby_ready, plan: Plan, control, sandbox
) -> None:
    from azure.ai.ml.entities import Model

    factory = ClientFactory(plan)
    # each hub's default datastore has its own container: the secondary's holds the replica
    p_container = factory.ml_client("primary").datastores.get_default().container_name
    s_container = factory.ml_client("secondary").datastores.get_default().container_name
    primary_cc = factory.blob_service(plan.primary.storage_account).get_container_client(p_container)
    secondary_cc = factory.blob_service(plan.secondary.storage_account).get_container_client(s_container)
    conflicted = sorted(b.name for b in secondary_cc.list_blobs(name_starts_with="data/"))[0]

    # during the outage the secondary serves: new blobs, a new model version, an edited blob
    control(sandbox, "POST", "/faults", {"outage": {"region": plan.primary.location}})
    try:
        new_blobs = {f"outage/new-{i}.txt": f"written in westus during the outage {i}".encode() for i in range(3)}
        for name, data in new_blobs.items():
            secondary_cc.upload_blob(name, data, overwrite=True)
        secondary_cc.upload_blob(conflicted, b"edited in the secondary during the outage", overwrite=True)
        project = plan.secondary.projects[0]
        ml = factory.ml_client("secondary", project)
        model_name = next(iter(ml.models.list())).name
        ml.models.create_or_update(
            Model(
                name=model_name,
                version="7001",
                description="trained in westus",
                path=f"azureml://datastores/workspaceblobstore/paths/outage/{model_name}/",
                tags={"trained_in": "westus"},
            )
        )
    finally:
        control(sandbox, "POST", "/heal")
    # a write in the primary that never reached the secondary (inside the RPO window)
    time.sleep(1.1)
    primary_cc.upload_blob(conflicted, b"edited in the primary before it went down", overwrite=True)

    result = fail_back(plan=plan, approve=True, reason="eastus healthy again")

    assert result["active"] == "primary"
    pointer, source = read_pointer(factory)
    assert pointer.active == "primary" and source == "storage (secondary, primary)", source
    for name, data in new_blobs.items():
        assert primary_cc.download_blob(name).readall() == data
    assert primary_cc.download_blob(conflicted).readall() == b"edited in the secondary during the outage"
    # the losing version is kept outside every datastore, in the primary's foundry-dr container
    state_cc = factory.blob_service(plan.primary.storage_account).get_container_client(STATE_CONTAINER)
    kept = [b.name for b in state_cc.list_blobs(name_starts_with=f"{CONFLICTS_PREFIX}/{p_container}/{conflicted}~")]
    assert len(kept) == 1 and state_cc.download_blob(kept[0]).readall() == b"edited in the primary before it went down"
    assert not any(".conflict-" in b.name for b in primary_cc.list_blobs())
    assert result["reverse_replication"]["blob_conflicts"] == 1
    model = factory.ml_client("primary", project).models.get(model_name, version="7001")
    assert model.tags["trained_in"] == "westus" and "rg-foundry-westus" not in (model.path or "")
    # the secondary is back to its standby size, its schedules off; the primary's on
    for p in plan.secondary.projects:
        sml = factory.ml_client("secondary", p)
        for ep in sml.online_endpoints.list():
            assert all(
                d.instance_count == plan.deployments.standby_instance_count
                for d in sml.online_deployments.list(endpoint_name=ep.name)
            )
        assert not any(s.is_enabled for s in sml.schedules.list(list_view_type="All"))
        assert all(s.is_enabled for s in factory.ml_client("primary", p).schedules.list(list_view_type="All"))


def test_planned_cut_over_syncs_everything_before_the_pointer_flips(standby_ready, plan: Plan) -> None:
    """Primary up: a final replication runs first, so the secondary matches the primary item by
    item (content MD5 of every blob, every asset version) before the pointer moves."""
    import hashlib

    from foundry_dr.stores.checkpoint import read_checkpoint

    factory = ClientFactory(plan)
    assert read_pointer(factory)[0].active == "primary"
    p_container = factory.ml_client("primary").datastores.get_default().container_name
    s_container = factory.ml_client("secondary").datastores.get_default().container_name
    primary_cc = factory.blob_service(plan.primary.storage_account).get_container_client(p_container)
    primary_cc.upload_blob("planned/last-minute.txt", b"written just before the planned cut-over", overwrite=True)

    result = cut_over(plan=plan, approve=True, mode="planned", reason="region maintenance")

    assert result["mode"] == "planned" and "copied" in result["final_replication"]
    pointer = read_pointer(factory)[0]
    checkpoint = read_checkpoint(factory, plan.name, direction="to-secondary")
    assert pointer.active == "secondary" and checkpoint.completed_at < pointer.changed_at

    def digests(account: str, container: str) -> dict[str, str]:
        cc = factory.blob_service(account).get_container_client(container)
        return {b.name: hashlib.md5(cc.download_blob(b.name).readall()).hexdigest() for b in cc.list_blobs()}

    primary = digests(plan.primary.storage_account, p_container)
    secondary = digests(plan.secondary.storage_account, s_container)
    assert {n: d for n, d in secondary.items() if n in primary} == primary  # every primary blob, same bytes
    for project in plan.primary.projects:
        src, dst = factory.ml_client("primary", project), factory.ml_client("secondary", project)
        for model in src.models.list():
            for version in src.models.list(name=model.name):
                assert dst.models.get(model.name, version.version).tags == version.tags
    # the primary's schedules were stopped first, the secondary's now run
    assert not any(
        s.is_enabled
        for p in plan.primary.projects
        for s in factory.ml_client("primary", p).schedules.list(list_view_type="All")
    )

    back = fail_back(plan=plan, approve=True, reason="maintenance over")
    assert back["active"] == "primary" and read_pointer(factory)[0].active == "primary"
