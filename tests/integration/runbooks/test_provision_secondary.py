"""provision-secondary end to end on the seeded sandbox, through the real SDKs and Prefect.

The sandbox is shared by the whole session: the main test leaves the secondary provisioned
(what later runbooks need) and accepts that an earlier test or run may have provisioned it.
Tests that must prove "nothing was written" use a plan variant whose secondary does not exist
(``*-ps-test`` names), so there is always something that *would* have been written.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import QuotaExceeded, RunbookRejected, SoftDeletedBlocking
from foundry_dr.flows.provision_secondary import provision_secondary
from foundry_dr.plan import Plan, apply_overrides

pytestmark = pytest.mark.usefixtures("prefect")

WRITES = {"PUT", "PATCH", "DELETE"}
PLAN_PATH = Path(__file__).resolve().parents[3] / "deployments" / "plans" / "sandbox.yaml"
ML = "Microsoft.MachineLearningServices"


def writes_since(request_log: Callable, sandbox: Any, t0: float) -> list[dict]:
    return [e for e in request_log(sandbox, service="arm") if e["t"] >= t0 and e["method"] in WRITES]


def fresh_secondary(plan: Plan, **overrides: str) -> Plan:
    """A variant whose secondary resource group and hub do not exist."""
    sets = {"secondary.resource_group": "rg-ps-test-westus", "secondary.hub": "hub-ps-test-westus", **overrides}
    return apply_overrides(plan, [f"{k}={v}" for k, v in sets.items()])


def artifact_keys() -> set[str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {a.key for a in client.read_artifacts() if a.key}


def progress_of(description: str) -> list[float]:
    """The values of the progress artifacts whose description starts with ``description``."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [a.data for a in client.read_artifacts() if a.type == "progress"
                and (a.description or "").startswith(description)]  # fmt: skip


def ws_doc(factory: ClientFactory, plan: Plan, name: str) -> dict:
    s = plan.secondary
    rid = f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers/{ML}/workspaces/{name}"
    return factory.resource_client(s.subscription_id).resources.get_by_id(rid, api_version="2024-04-01").as_dict()


def test_dry_run_then_provision_then_no_change(seeded, sandbox, plan: Plan, tmp_path: Path, request_log) -> None:
    factory = ClientFactory(plan)
    s = plan.secondary

    t0 = time.time()
    out = tmp_path / "secondary.json"
    dry = provision_secondary(plan=plan, dry_run=True, template_out=str(out))
    assert dry["status"] == "dry-run" and dry["what_if"]
    assert json.loads(out.read_text()) == dry["template"]
    assert artifact_keys() >= {"provision-secondary-template", "provision-secondary-report"}
    assert writes_since(request_log, sandbox, t0) == [], "a dry run writes nothing"

    first = provision_secondary(plan=plan, approve=True)
    assert first["status"] in ("deployed", "no-change")  # an earlier test may have provisioned it
    assert first["verify"]["problems"] == []
    if first["status"] == "deployed":  # the long step shows its progress beside the run (issue 20.4)
        assert 100.0 in progress_of("Template deployment"), progress_of("Template deployment")

    hub = ws_doc(factory, plan, s.hub)
    assert hub["kind"] == "Hub" and hub["location"] == "westus"
    assert hub["properties"]["keyVault"].endswith("/resourceGroups/rg-foundry-eastus/providers/"
                                                  "Microsoft.KeyVault/vaults/kv-fdr-shared")
    assert hub["properties"]["storageAccount"].endswith("/storageAccounts/stfdrwestus")
    for project in s.projects:
        doc = ws_doc(factory, plan, project)
        assert doc["properties"]["hubResourceId"].lower() == hub["id"].lower()
        [cluster] = [c for c in factory.ml_client("secondary", project).compute.list() if c.name == "cpu-cluster"]
        assert (cluster.size, cluster.min_instances, cluster.max_instances) == ("STANDARD_DS3_V2", 0, 4)  # hot-warm
    stores = {d.name: d for d in factory.ml_client("secondary").datastores.list()}
    assert stores["trainingdata"].account_name == "stfdrwestusdata"
    assert stores["workspaceblobstore"].account_name == "stfdrwestus"

    # the ApiKey connection is reported with its fix, never invented; the operator creates it
    connections = {c.name for c in factory.ml_client("secondary").connections.list()}
    if "aoai-westus" not in connections:
        assert first["verify"]["missing_connections"] == ["aoai-westus"]
        assert any("az ml connection create" in a["fix"] for a in first["actions"])
        from azure.ai.ml.entities import AzureOpenAIConnection

        factory.ml_client("secondary").connections.create_or_update(AzureOpenAIConnection(
            name="aoai-westus", azure_endpoint="https://ais-contoso-westus.openai.azure.com/",
            api_key="sandbox-operator-key", api_version="2024-02-01"))  # fmt: skip

    t1 = time.time()
    second = provision_secondary(plan=plan)
    assert set(second["what_if"]) == {"NoChange"}, second["changes"]
    assert second["deployed"] is False and second["status"] == "no-change"
    assert second["verify"]["missing_connections"] == [] and second["verify"]["problems"] == []
    assert second["drift"]["counts"].get("DRIFT", 0) == 0
    puts = [e for e in writes_since(request_log, sandbox, t1) if "/Microsoft.Resources/deployments/" in e["path"]]
    assert puts == [], "a second run deploys nothing"
    assert writes_since(request_log, sandbox, t1) == []


def test_quota_too_low_fails_before_any_write(seeded, sandbox, plan: Plan, control, request_log) -> None:
    previous = control(sandbox, "GET", "/settings").get("quotas")
    control(sandbox, "PUT", "/settings", {"quotas": {"westus": {"standardDSv2Family": 8}}})
    try:
        t0 = time.time()
        with pytest.raises(QuotaExceeded, match=r"needs 32 cores of standardDSv2Family in westus, quota allows \d+"):
            provision_secondary(plan=fresh_secondary(plan), approve=True)
        assert writes_since(request_log, sandbox, t0) == []
    finally:
        control(sandbox, "PUT", "/settings", {"quotas": previous or {}})


def _resume_when_paused(run_input: dict) -> threading.Thread:
    """Answer the first paused provision-secondary run (from a thread, like a human in the UI)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.flow_runs import resume_flow_run

    def answer() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=["provision-secondary"])),
                    flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))),
                )
            if runs:
                time.sleep(0.5)  # the flow registers its input form right after pausing
                resume_flow_run(runs[0].id, run_input=run_input)
                return
            time.sleep(0.5)

    ctx = contextvars.copy_context()  # Prefect's settings (the test harness's API) live in a contextvar
    thread = threading.Thread(target=ctx.run, args=(answer,), daemon=True)
    thread.start()
    return thread


def test_rejection_deploys_nothing(seeded, sandbox, plan: Plan, request_log) -> None:
    variant = fresh_secondary(plan, **{"approvals.provision-secondary": "required"})
    t0 = time.time()
    thread = _resume_when_paused({"decision": "reject", "approver": "ops@contoso", "reason": "CHG-1 denied"})
    with pytest.raises(RunbookRejected, match="ops@contoso"):
        provision_secondary(plan=variant)
    thread.join(5)
    assert writes_since(request_log, sandbox, t0) == []


def test_cli_exit_code_3_on_rejection(seeded, sandbox, request_log, monkeypatch) -> None:
    from foundry_dr.cli import app

    t0 = time.time()
    thread = _resume_when_paused({"decision": "reject", "approver": "cli-test", "reason": "no"})
    result = CliRunner().invoke(app, [
        "run", "provision-secondary", "--plan", str(PLAN_PATH),
        "--set", "approvals.provision-secondary=required",
        "--set", "secondary.resource_group=rg-ps-test-westus", "--set", "secondary.hub=hub-ps-test-westus",
    ])  # fmt: skip
    thread.join(5)
    assert result.exit_code == 3, result.output
    assert writes_since(request_log, sandbox, t0) == []


@pytest.mark.slow
def test_approval_timeout_deploys_nothing(seeded, sandbox, plan: Plan, request_log) -> None:
    variant = fresh_secondary(plan, **{"approvals.provision-secondary": "required", "approvals.timeout_minutes": "1"})
    t0 = time.time()
    with pytest.raises(RunbookRejected) as err:
        provision_secondary(plan=variant)
    assert err.value.timed_out
    assert writes_since(request_log, sandbox, t0) == []


def test_soft_deleted_ai_services_is_reported_then_recovered(seeded, sandbox, plan: Plan, request_log) -> None:
    provision_secondary(plan=plan, approve=True, recover_soft_deleted=True)  # whatever ran before
    factory = ClientFactory(plan)
    s = plan.secondary
    account = (f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers/"
               f"Microsoft.CognitiveServices/accounts/{s.ai_services}")
    resources = factory.resource_client(s.subscription_id).resources
    resources.begin_delete_by_id(account, api_version="2024-10-01").result()

    try:
        t0 = time.time()
        with pytest.raises(SoftDeletedBlocking, match="az cognitiveservices account recover --name ais-contoso-westus"):
            provision_secondary(plan=plan, approve=True)
        assert writes_since(request_log, sandbox, t0) == []
    finally:  # leave the shared sandbox provisioned, whatever failed above
        result = provision_secondary(plan=plan, approve=True, recover_soft_deleted=True)
    assert result["recovered"] == [s.ai_services]
    assert resources.get_by_id(account, api_version="2024-10-01").properties["customSubDomainName"] == s.ai_services
    assert set(provision_secondary(plan=plan)["what_if"]) == {"NoChange"}
