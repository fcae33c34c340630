"""Fenced and isolated drills on the sandbox (issue 19, items 1 and 2).

Fenced: the drill rehearses the unplanned cut-over with the primary region down, and its client
factory refuses every call to the primary (foundry_dr/fence.py). Isolated: the drill serves from
drill-suffixed copies of the secondary's endpoints, leaves production deployments as they were,
and removes exactly what it created, or its leftovers are removed by `foundry-dr drill cleanup`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from typer.testing import CliRunner

from foundry_dr.cli import app
from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import ML_API_VERSION
from foundry_dr.drill import DRILL_TAG
from foundry_dr.fence import PrimaryFenced, fenced
from foundry_dr.flows.dr_drill import dr_drill
from foundry_dr.plan import Plan
from foundry_dr.resource_ids import workspace_id
from foundry_dr.stores.drill import read_created, record_created

pytestmark = pytest.mark.usefixtures("prefect")


def _primary_down(sandbox: Any, control: Any) -> None:
    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus"}})


def test_the_fence_refuses_real_sdk_calls_to_the_primary_and_names_them(
    provisioned: Any, plan: Plan, request_log: Any
) -> None:
    """Management, ML and blob clients built under the fence: primary calls refused before they
    leave the process (the sandbox never sees them), counted and named; secondary calls go."""
    hub = workspace_id(plan, "primary", plan.primary.hub)
    since = time.time()
    with fenced(plan) as fence:
        factory = ClientFactory(plan)
        resources = factory.resource_client(plan.primary.subscription_id)
        with pytest.raises(PrimaryFenced, match=r"refused GET https://\S+/resourceGroups/rg-foundry-eastus/"):
            resources.resources.get_by_id(hub, api_version=ML_API_VERSION)
        with pytest.raises(PrimaryFenced, match="onlineEndpoints"):
            list(factory.ml_client("primary", plan.primary.projects[0]).online_endpoints.list())
        with pytest.raises(PrimaryFenced, match=f"the primary's storage account {plan.primary.storage_account}"):
            factory.blob_service(plan.primary.storage_account).get_container_client("foundry-dr").exists()
        # the secondary answers through the same, fenced, factory
        assert resources.resources.get_by_id(workspace_id(plan, "secondary", plan.secondary.hub),
                                              api_version=ML_API_VERSION).name == plan.secondary.hub  # fmt: skip
    assert fence.count == 3, fence.calls
    assert "0 calls" not in fence.summary() and "3 call(s) to the primary refused" in fence.summary()
    reached = [r for r in request_log(provisioned) if r["t"] >= since and r.get("region") == "eastus"]
    assert not reached, reached  # nothing reached the primary's region
    factory.close()


def test_a_fenced_drill_passes_with_the_primary_region_down(standby_ready: Any, plan: Plan, control: Any) -> None:
    _primary_down(standby_ready, control)
    outcome = dr_drill(plan=plan, approve=True, fence_primary=True)
    assert outcome["verdict"]["passed"], outcome["report_markdown"]
    assert outcome["primary_calls"] == []
    assert "0 calls to the primary" in outcome["report_markdown"]
    assert "| calls to the primary (fenced) | 0 | pass |" in outcome["report_markdown"]
    assert "replicate-artifacts" not in outcome["steps"] and "provision-secondary" not in outcome["steps"]


def test_a_fenced_drill_that_needs_the_primary_fails_naming_the_call(standby_ready: Any, plan: Plan) -> None:
    """hot-cold: the secondary holds no deployments, so serving means recreating them from the
    primary's. The fence refuses the step's first read of the primary (region up: only the fence
    stops it) and the drill fails with that call in the error and the report."""
    cold = plan.model_copy(update={"strategy": plan.strategy.model_copy(update={"default": "hot-cold"})})
    factory = ClientFactory(plan)
    before = _production_docs(factory, plan)
    with pytest.raises(PrimaryFenced) as caught:
        dr_drill(plan=cold, approve=True, fence_primary=True)
    assert "refused GET" in str(caught.value) and "resourceGroups/rg-foundry-eastus" in str(caught.value)
    assert _production_docs(factory, plan) == before  # it stopped before changing the secondary
    factory.close()


def _production_docs(factory: ClientFactory, plan: Plan) -> dict[str, dict]:
    """Every online endpoint and deployment of the secondary, GET by id, minus drill copies."""
    from foundry_dr.tasks.endpoints import read_workspace

    docs = {}
    for project in plan.secondary.projects:
        for entry in read_workspace(factory, "secondary", project)["online"]:
            if DRILL_TAG in (entry["doc"].get("tags") or {}):
                continue
            for doc in (entry["doc"], *entry["deployments"]):
                docs[doc["id"].lower()] = {k: doc.get(k) for k in ("sku", "tags", "properties")}
    return docs


def _hot_hot(plan: Plan) -> Plan:
    strategy = plan.strategy.model_copy(update={"default": "hot-hot"})
    return plan.model_copy(update={"strategy": strategy, "drill": plan.drill.model_copy(update={"isolated": True})})


def test_an_isolated_drill_leaves_production_untouched_and_removes_what_it_made(
    standby_ready: Any, plan: Plan
) -> None:
    from foundry_dr.flows.recreate_deployments import recreate_deployments

    hot = _hot_hot(plan)
    factory = ClientFactory(hot)
    # a hot-hot secondary: its deployments at production size, as if serving traffic
    recreate_deployments(plan=hot, approve=True, sizing="standby", scale_only=True)
    try:
        _isolated_drill(factory, hot)
    finally:  # the module's other tests expect the warm standby the session fixture made
        recreate_deployments(plan=plan, approve=True, sizing="standby", scale_only=True)
        factory.close()


def _isolated_drill(factory: ClientFactory, hot: Plan) -> None:
    before = _production_docs(factory, hot)
    assert before, "the secondary has no online endpoints to compare"
    outcome = dr_drill(plan=hot, approve=True, fence_primary=True)
    assert outcome["verdict"]["passed"], outcome["report_markdown"]
    made = outcome["drill_target"]
    assert made and all("-drill" in r for r in made)
    after = _production_docs(factory, hot)
    assert sorted(after) == sorted(before)
    for rid, doc in before.items():  # item by item: size, tags and properties as they were
        assert after[rid]["sku"] == doc["sku"], rid
        assert after[rid]["tags"] == doc["tags"], rid
        assert after[rid]["properties"].get("traffic") == doc["properties"].get("traffic"), rid
    client = factory.resource_client(hot.secondary.subscription_id)
    for rid in made:
        with pytest.raises(ResourceNotFoundError):
            client.resources.get_by_id(rid, api_version=ML_API_VERSION)
    entry = next(e for e in read_created(factory) if e.resources == made)
    assert entry.cleaned_at is not None, outcome.get("cleaned")
    assert sorted(c["resource"] for c in outcome["cleaned"]) == sorted(made)  # exactly what it made


def test_drill_cleanup_removes_a_killed_drills_leftovers(standby_ready: Any, plan: Plan, tmp_path: Any) -> None:
    """A drill killed after creating its copies: the record and the tagged resources are there.
    `drill cleanup` removes them once older than drill.max_lifetime_hours; not before."""
    from foundry_dr.drill import drill_context, plan_drill_target
    from foundry_dr.tasks.endpoints import apply_endpoint, read_side, vault_uri

    hot = _hot_hot(plan)
    factory = ClientFactory(hot)
    project = hot.secondary.projects[0]
    inventory = read_side.fn(factory, "secondary", [project])[project]
    ctx = drill_context([workspace_id(hot, "secondary", project)], hot.secondary.location, vault_uri(factory),
                        hot.drill.suffix)  # fmt: skip
    group = plan_drill_target(inventory, ctx, "killed-drill").online[0]
    made = [group.endpoint.resource_id, *(d.resource_id for d in group.deployments)]
    started = datetime.now(UTC) - timedelta(hours=hot.drill.max_lifetime_hours, minutes=1)
    record_created(factory, "killed-drill", started, made)
    apply_endpoint.fn(factory, "secondary", group)  # ... and then the drill died
    client = factory.resource_client(hot.secondary.subscription_id)
    assert client.resources.get_by_id(made[0], api_version=ML_API_VERSION).tags[DRILL_TAG] == "killed-drill"

    plan_file = tmp_path / "plan.yaml"
    import yaml

    plan_file.write_text(yaml.safe_dump(hot.model_dump(mode="json", exclude_none=True)))
    result = CliRunner().invoke(app, ["drill", "cleanup", "--plan", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert "deleted" in result.output
    for rid in made:
        with pytest.raises(ResourceNotFoundError):
            client.resources.get_by_id(rid, api_version=ML_API_VERSION)
    assert next(e for e in read_created(factory) if e.flow_run_id == "killed-drill").cleaned_at is not None
    factory.close()
