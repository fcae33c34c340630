"""recreate-deployments end to end on the seeded sandbox, through the real SDKs and Prefect."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError

from foundry_dr.clients import ClientFactory
from foundry_dr.deployment_plan import required_references
from foundry_dr.errors import PrerequisitesMissing
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.plan import Plan, load_plan
from foundry_dr.resource_ids import workspace_id
from foundry_dr.tasks.endpoints import read_workspace
from foundry_dr_sandbox import seed_spec
from foundry_dr_sandbox.seed_spec import PLAN_PATH

pytestmark = pytest.mark.usefixtures("prefect")
ARM_API = "2024-04-01"


def _exists(rc, resource_id: str, api_version: str = ARM_API) -> bool:
    try:
        rc.resources.get_by_id(resource_id, api_version=api_version)
        return True
    except ResourceNotFoundError:
        return False


def _ensure(rc, resource_id: str, body: dict) -> None:
    if not _exists(rc, resource_id):
        rc.resources.begin_create_or_update_by_id(resource_id, body, api_version=ARM_API).result()


def _copy_assets(factory: ClientFactory, refs: set[str], primary_ws: str, secondary_project: str) -> None:
    """Copy the model/environment versions named in ``refs`` (primary ids) unless already there."""
    from azure.ai.ml.entities import Environment, Model

    src = factory.ml_client("primary", primary_ws)
    dst = factory.ml_client("secondary", secondary_project)
    for ref in sorted(refs):
        parts = ref.split("/")
        kind, name, version = parts[-4], parts[-3], parts[-1]
        if kind == "models":
            try:
                dst.models.get(name, version)
            except ResourceNotFoundError:
                m = src.models.get(name, version)
                dst.models.create_or_update(Model(name=name, version=version, path=m.path, type=m.type,
                                                  description=m.description, tags=m.tags))  # fmt: skip
        elif kind == "environments":
            try:
                dst.environments.get(name, version)
            except ResourceNotFoundError:
                e = src.environments.get(name, version)
                dst.environments.create_or_update(Environment(name=name, version=version, image=e.image,
                                                              description=e.description, tags=e.tags))  # fmt: skip
        elif kind in ("codes", "data"):  # a schedule's job references its code snapshot and data inputs
            rc = factory.resource_client(factory.plan.secondary.subscription_id)
            target = ref.replace(f"/resourceGroups/{factory.plan.primary.resource_group}/",
                                 f"/resourceGroups/{factory.plan.secondary.resource_group}/"
                                 ).replace(f"/workspaces/{primary_ws}/", f"/workspaces/{secondary_project}/")
            try:
                rc.resources.get_by_id(target, api_version=ARM_API)
            except ResourceNotFoundError:
                props = rc.resources.get_by_id(ref, api_version=ARM_API).properties
                props = {k: v for k, v in props.items() if k != "provisioningState"}
                rc.resources.begin_create_or_update_by_id(target, {"properties": props}, api_version=ARM_API).result()


@pytest.fixture(scope="module")
def secondary_ready(seeded) -> Plan:
    """The bare secondary (hub, projects, compute) and the assets the primary's deployments use.

    Idempotent and additive: provision-secondary and replicate-artifacts tests share this sandbox
    and may have done (some of) it already.
    """
    plan = load_plan(PLAN_PATH)
    factory = ClientFactory(plan)
    s = plan.secondary
    rc = factory.resource_client(s.subscription_id)
    if not rc.resource_groups.check_existence(s.resource_group):
        rc.resource_groups.create_or_update(s.resource_group, {"location": s.location})
    hub_id = workspace_id(factory.plan, "secondary", s.hub)
    _ensure(rc, hub_id, {"location": s.location, "kind": "Hub", "sku": {"name": "Basic", "tier": "Basic"},
                         "identity": {"type": "SystemAssigned"}, "properties": {"friendlyName": s.hub}})  # fmt: skip
    for src_project, project in zip(plan.primary.projects, s.projects, strict=True):
        ws = workspace_id(factory.plan, "secondary", project)
        _ensure(rc, ws, {"location": s.location, "kind": "Project", "sku": {"name": "Basic", "tier": "Basic"},
                         "identity": {"type": "SystemAssigned"},
                         "properties": {"friendlyName": project, "hubResourceId": hub_id}})  # fmt: skip
        inventory = read_workspace(factory, "primary", src_project)
        refs = required_references([inventory["online"], inventory["batch"], inventory["schedules"]])
        for ref in {r for r in refs if "/computes/" in r}:
            _ensure(rc, ws + "/computes/" + ref.rsplit("/", 1)[1], seed_spec.compute_body(s.location))
        _copy_assets(factory, {r for r in refs if "/computes/" not in r}, src_project, project)
    factory.close()
    return plan


def _writes_to(request_log, sandbox, group: str, since: float) -> list[dict]:
    return [e for e in request_log(sandbox, path=f"/resourceGroups/{group}/")
            if e["t"] >= since and e["method"] in ("PUT", "PATCH", "DELETE", "POST") and e["service"] == "arm"
            and "/listKeys" not in e["path"]]  # fmt: skip


@pytest.fixture
def unreplicated_deployment(seeded, plan: Plan) -> Iterator[str]:
    """A temporary primary deployment whose model version exists only in the primary."""
    factory = ClientFactory(plan)
    rc = factory.resource_client(plan.primary.subscription_id)
    ws = workspace_id(factory.plan, "primary", "proj-chat")
    model, endpoint = seed_spec.model_name("proj-chat"), seed_spec.endpoint_name("proj-chat")
    model_id = f"{ws}/models/{model}/versions/900"
    dep_id = f"{ws}/onlineEndpoints/{endpoint}/deployments/canary-unreplicated"
    rc.resources.begin_create_or_update_by_id(model_id, {"properties": {
        "modelUri": f"azureml://datastores/workspaceblobstore/paths/models/{model}/900/",
        "modelType": "custom_model", "description": "only in the primary"}}, api_version=ARM_API).result()  # fmt: skip
    blue = rc.resources.get_by_id(f"{ws}/onlineEndpoints/{endpoint}/deployments/blue", api_version=ARM_API).as_dict()
    props = {k: v for k, v in blue["properties"].items() if k != "provisioningState"}
    rc.resources.begin_create_or_update_by_id(dep_id, {"location": blue["location"], "kind": "Managed",
        "sku": {"name": "Default", "capacity": 1}, "properties": {**props, "model": model_id}},
        api_version=ARM_API).result()  # fmt: skip
    try:
        yield model_id
    finally:
        rc.resources.begin_delete_by_id(dep_id, api_version=ARM_API).result()
        rc.resources.begin_delete_by_id(model_id, api_version=ARM_API).result()
        factory.close()


def test_missing_model_stops_before_any_write(secondary_ready, unreplicated_deployment, sandbox, request_log,
                                              plan: Plan) -> None:  # fmt: skip
    since = time.time()
    with pytest.raises(PrerequisitesMissing) as caught:
        recreate_deployments(plan=plan)
    expected = unreplicated_deployment.replace("rg-foundry-eastus", "rg-foundry-westus")
    assert expected in caught.value.missing
    assert "run replicate-artifacts first" in str(caught.value)
    assert _writes_to(request_log, sandbox, plan.secondary.resource_group, since) == []


def _secondary_state(factory: ClientFactory, plan: Plan) -> dict[str, dict]:
    return {p: read_workspace(factory, "secondary", p) for p in plan.secondary.projects}


def test_recreate_standby_production_scale_only_and_rerun(secondary_ready, sandbox, request_log, plan: Plan) -> None:
    factory = ClientFactory(plan)
    since = time.time()
    dry = recreate_deployments(plan=plan, dry_run=True)
    assert dry["changed"] == 0 and dry["dry_run"]
    assert _writes_to(request_log, sandbox, plan.secondary.resource_group, since) == []

    first = recreate_deployments(plan=plan)
    assert not first["failed"]
    assert first["smoke"] and all(s["ok"] and s["status"] == 200 for s in first["smoke"]), first["smoke"]
    if first["changed"]:  # the endpoints' progress is shown beside the run (issue 20.4)
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            done = [a.data for a in client.read_artifacts() if a.type == "progress"
                    and (a.description or "").startswith("Endpoints in the secondary")]  # fmt: skip
        assert 100.0 in done, done

    secondary = _secondary_state(factory, plan)
    for src_p, dst_p in zip(plan.primary.projects, plan.secondary.projects, strict=True):
        primary = read_workspace(factory, "primary", src_p)
        target = secondary[dst_p]
        target_ws = workspace_id(factory.plan, "secondary", dst_p).lower()
        mine = {e["doc"]["name"]: e for e in target["online"]}
        for entry in primary["online"]:
            got = mine[entry["doc"]["name"]]
            assert got["doc"]["properties"]["traffic"] == entry["doc"]["properties"]["traffic"]
            assert got["doc"]["properties"]["mirrorTraffic"] == {}
            assert got["doc"]["properties"]["authMode"] == entry["doc"]["properties"]["authMode"]
            assert got["doc"]["tags"] == entry["doc"]["tags"]
            deps = {d["name"]: d for d in got["deployments"]}
            assert set(deps) >= {d["name"] for d in entry["deployments"]}
            for d in entry["deployments"]:
                assert deps[d["name"]]["sku"]["capacity"] == 1  # hot-warm standby
        refs = required_references([target["online"], target["batch"], target["schedules"]])
        assert refs and all(r.lower().startswith(target_ws + "/") for r in refs), refs
        assert {e["doc"]["name"] for e in target["batch"]} >= {e["doc"]["name"] for e in primary["batch"]}
        assert {s["name"] for s in target["schedules"]} >= {s["name"] for s in primary["schedules"]}
        assert all(s["properties"]["isEnabled"] is False for s in target["schedules"])  # hot-warm

    second = recreate_deployments(plan=plan)
    assert second["changed"] == 0, [r for r in second["items"] if r["action"] != "unchanged"]

    production = recreate_deployments(plan=plan, sizing="production", scale_only=True)
    assert production["mode"] == "scale-only" and production["changed"] > 0
    counts = {d["name"]: d["sku"]["capacity"] for w in _secondary_state(factory, plan).values()
              for e in w["online"] for d in e["deployments"]}  # fmt: skip
    assert set(counts.values()) == {seed_spec.DEPLOYMENT_CAPACITY}, counts  # the seed's production size

    since = time.time()
    back = recreate_deployments(plan=plan, sizing="standby", scale_only=True)
    # deployments carry their production size: scale-only needs nothing from the (maybe down) primary
    primary_calls = [e for e in request_log(sandbox, path=f"/resourceGroups/{plan.primary.resource_group}/")
                     if e["t"] >= since]  # fmt: skip
    assert primary_calls == []
    assert back["changed"] == production["changed"]
    after = _secondary_state(factory, plan)
    counts = {d["name"]: d["sku"]["capacity"] for w in after.values() for e in w["online"] for d in e["deployments"]}
    assert set(counts.values()) == {1}, counts
    for w in after.values():  # scale-only touched nothing else
        assert all(e["doc"]["properties"]["traffic"] for e in w["online"])
        assert all(s["properties"]["isEnabled"] is False for s in w["schedules"])
    factory.close()


def test_production_scale_up_checks_online_quota_before_any_write(secondary_ready, sandbox, request_log, control,
                                                                  plan: Plan) -> None:  # fmt: skip
    """Scaling the standby to production size needs ceil(1.2 x instances) x vCPUs per deployment
    (Azure ML's upgrade reserve). Short of it: QuotaExceeded naming the family, before any write;
    the sandbox itself refuses such a deployment as Azure does (400, "Not enough quota")."""
    from azure.ai.ml.entities import ManagedOnlineDeployment
    from azure.core.exceptions import HttpResponseError

    from foundry_dr.errors import QuotaExceeded
    from foundry_dr.tasks.quota import read_quota

    factory = ClientFactory(plan)
    location = plan.secondary.location
    used = read_quota.fn(factory, location)["usages"]["standarddsv2family"].current
    previous = control(sandbox, "GET", "/settings").get("quotas")
    control(sandbox, "PUT", "/settings", {"quotas": {location: {"standardDSv2Family": used + 4}}})
    try:
        since = time.time()
        with pytest.raises(QuotaExceeded, match=r"needs \d+ cores of standardDSv2Family in westus, quota allows 4"):
            recreate_deployments(plan=plan, sizing="production", scale_only=True)
        assert _writes_to(request_log, sandbox, plan.secondary.resource_group, since) == []
        ml = factory.ml_client("secondary", plan.secondary.projects[0])
        endpoint = next(iter(ml.online_endpoints.list()))
        deployment = next(iter(ml.online_deployments.list(endpoint_name=endpoint.name)))
        grown = ManagedOnlineDeployment(name=deployment.name, endpoint_name=endpoint.name,
                                        model=deployment.model, environment=deployment.environment,
                                        code_configuration=deployment.code_configuration,
                                        instance_type=deployment.instance_type, instance_count=5)  # fmt: skip
        with pytest.raises(HttpResponseError, match="Not enough quota available for Standard_DS3_v2"):
            ml.online_deployments.begin_create_or_update(grown).result()
    finally:
        control(sandbox, "PUT", "/settings", {"quotas": previous or {}})
        factory.close()


def test_production_sizing_full_run(secondary_ready, plan: Plan) -> None:
    result = recreate_deployments(plan=plan, sizing="production")
    assert not result["failed"] and all(s["ok"] for s in result["smoke"])
    sizes = [r for r in result["items"] if r["kind"] == "online-deployment"]
    assert sizes and all(r["size"].endswith("2") for r in sizes)
    again = recreate_deployments(plan=plan, sizing="standby", scale_only=True)
    assert again["changed"] == len(sizes)
