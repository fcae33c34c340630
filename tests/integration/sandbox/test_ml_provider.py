"""Microsoft.MachineLearningServices in the sandbox, through the real azure-ai-ml MLClient over HTTPS.

Workspaces are created with a plain ARM PUT (MLClient's own ``workspaces.begin_create`` deploys
a template full of expressions, which the sandbox refuses by design); everything else goes
through MLClient as the runbooks use it.
"""

from __future__ import annotations

import collections
import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.ai.ml import MLClient, command
from azure.ai.ml.constants import AssetTypes, ListViewType
from azure.ai.ml.entities import (
    AccountKeyConfiguration,
    AmlCompute,
    ApiKeyConfiguration,
    AzureBlobDatastore,
    AzureOpenAIConnection,
    BatchEndpoint,
    CommandComponent,
    ComputeInstance,
    CronTrigger,
    Data,
    Environment,
    JobSchedule,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelBatchDeployment,
    ModelBatchDeploymentSettings,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm_harness import Arm, arm  # noqa: F401  (fixture)

from foundry_dr_sandbox.config import CLOUD_NAME

pytestmark = pytest.mark.integration

MLS = "Microsoft.MachineLearningServices/workspaces"
WS_API = "2024-10-01"


@dataclass
class Hub:
    rg: str
    hub: str
    project: str
    ml: MLClient  # bound to the hub
    arm: Arm

    def client(self, workspace: str | None = None, principal: str = "owner") -> MLClient:
        return ml_client(self.arm, self.rg, workspace or self.hub, principal)

    def ws_id(self, name: str) -> str:
        return f"/subscriptions/{self.arm.subscription}/resourceGroups/{self.rg}/providers/{MLS}/{name}"


def ml_client(sb: Arm, rg: str, workspace: str, principal: str = "owner") -> MLClient:
    return MLClient(
        sb.credential(principal),
        sb.subscription,
        rg,
        workspace,
        cloud=CLOUD_NAME,
        cloud_metadata=sb.config.cloud_metadata(),
        connection_verify=sb.ca,
    )


def put_workspace(sb: Arm, rg: str, name: str, kind: str, location: str = "eastus", **props: object) -> dict:
    rid = f"/subscriptions/{sb.subscription}/resourceGroups/{rg}/providers/{MLS}/{name}"
    body = {
        "location": location,
        "kind": kind,
        "identity": {"type": "SystemAssigned"},
        "properties": {"friendlyName": name, **props},
    }
    poller = sb.client(ResourceManagementClient).resources.begin_create_or_update_by_id(
        rid, body, api_version=WS_API
    )
    return poller.result().as_dict()


@pytest.fixture(scope="module")
def hub(arm: Arm) -> Iterator[Hub]:  # noqa: F811
    rg = f"rg-ml-{uuid.uuid4().hex[:6]}"
    arm.client(ResourceManagementClient).resource_groups.create_or_update(rg, {"location": "eastus"})
    hub_name, project = f"hub-{rg}", f"proj-{rg}"
    put_workspace(arm, rg, hub_name, "Hub", description="primary hub")
    put_workspace(
        arm,
        rg,
        project,
        "Project",
        hubResourceId=(f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/{MLS}/{hub_name}"),
    )
    yield Hub(rg, hub_name, project, ml_client(arm, rg, hub_name), arm)


def settings(sb: Arm, **values: object) -> None:
    sb.control("PUT", "/settings", values)


# ---- workspaces ---------------------------------------------------------------------------
def test_workspaces_hub_and_project(hub: Hub) -> None:
    ws = hub.ml.workspaces.get(hub.hub)
    assert type(ws).__name__ == "Hub"
    assert ws.location == "eastus"
    assert ws.storage_account.endswith("/stfdreastus")
    assert ws.description == "primary hub"
    assert ws.identity.principal_id
    proj = hub.ml.workspaces.get(hub.project)
    assert type(proj).__name__ == "Project"
    assert proj.hub_id.lower() == hub.ws_id(hub.hub).lower()
    names = {w.name for w in hub.ml.workspaces.list()}
    assert {hub.hub, hub.project} <= names
    # a project must name an existing hub
    with pytest.raises(HttpResponseError) as err:
        put_workspace(hub.arm, hub.rg, "orphan", "Project", hubResourceId=hub.ws_id("nohub"))
    assert err.value.status_code == 400
    # a hub with projects cannot be deleted
    rmc = hub.arm.client(ResourceManagementClient)
    with pytest.raises(HttpResponseError) as err:
        rmc.resources.begin_delete_by_id(hub.ws_id(hub.hub), api_version=WS_API).result()
    assert err.value.status_code == 409


# ---- assets -------------------------------------------------------------------------------
def test_models_versions_tags_archive_and_paging(hub: Hub) -> None:
    ml = hub.ml
    name = f"m-{uuid.uuid4().hex[:6]}"
    for v in ("1", "2", "3"):
        created = ml.models.create_or_update(
            Model(
                name=name,
                version=v,
                path=f"azureml://datastores/workspaceblobstore/paths/models/{name}/{v}",
                type=AssetTypes.CUSTOM_MODEL,
                tags={"stage": f"s{v}"},
                description=f"version {v}",
            )
        )
        assert created.version == v and created.tags == {"stage": f"s{v}"}
    got = ml.models.get(name, "2")
    assert got.description == "version 2" and got.path.endswith(f"models/{name}/2")
    assert ml.models.get(name, label="latest").version == "3"
    ml.models.archive(name, version="1")
    assert {m.version for m in ml.models.list(name=name)} == {"2", "3"}
    assert {m.version for m in ml.models.list(name=name, list_view_type=ListViewType.ALL)} == {"1", "2", "3"}
    # immutable content, mutable description
    with pytest.raises(HttpResponseError) as err:
        ml.models.create_or_update(
            Model(name=name, version="2", path="azureml://datastores/workspaceblobstore/paths/x")
        )
    assert err.value.status_code == 409
    # more containers than one page (page size 10 by default)
    for i in range(12):
        ml.models.create_or_update(
            Model(name=f"{name}-p{i}", version="1", path="azureml://datastores/workspaceblobstore/paths/p")
        )
    listed = [m.name for m in ml.models.list() if m.name.startswith(f"{name}-p")]
    assert len(listed) == 12  # more than one page (10): the pager followed nextLink


def test_data_environments_components(hub: Hub) -> None:
    ml = hub.ml
    suffix = uuid.uuid4().hex[:6]
    data = ml.data.create_or_update(
        Data(
            name=f"d-{suffix}",
            version="1",
            type=AssetTypes.URI_FILE,
            path="azureml://datastores/workspaceblobstore/paths/data/x.csv",
            tags={"k": "v"},
        )
    )
    assert data.type == AssetTypes.URI_FILE
    assert ml.data.get(f"d-{suffix}", "1").path.endswith("data/x.csv")
    assert f"d-{suffix}" in {d.name for d in ml.data.list()}
    env = ml.environments.create_or_update(
        Environment(name=f"e-{suffix}", version="1", image="crfdreastus.azurecr.io/train:1")
    )
    assert env.image == "crfdreastus.azurecr.io/train:1"
    assert ml.environments.get(f"e-{suffix}", "1").image == env.image
    assert f"e-{suffix}" in {e.name for e in ml.environments.list()}
    comp = ml.components.create_or_update(
        CommandComponent(
            name=f"c_{suffix}", version="1", command="echo hello", environment=f"azureml:e-{suffix}:1"
        )
    )
    assert comp.version == "1"
    assert ml.components.get(f"c_{suffix}", "1").command == "echo hello"
    assert f"c_{suffix}" in {c.name for c in ml.components.list()}


# ---- datastores and connections -----------------------------------------------------------
def test_datastores_and_secrets(hub: Hub) -> None:
    ml = hub.ml
    key = hub.arm.config.storage_accounts["stfdreastusdata"].key
    ml.datastores.create_or_update(
        AzureBlobDatastore(
            name="extra",
            account_name="stfdreastusdata",
            container_name="data",
            credentials=AccountKeyConfiguration(account_key=key),
        )
    )
    got = ml.datastores.get("extra")
    assert got.account_name == "stfdreastusdata" and got.container_name == "data"
    assert not getattr(got.credentials, "account_key", None)  # never returned by GET
    assert ml.datastores.get("extra", include_secrets=True).credentials.account_key == key
    default = ml.datastores.get_default()
    assert default.name == "workspaceblobstore" and default.account_name == "stfdreastus"
    assert {"extra", "workspaceblobstore"} <= {d.name for d in ml.datastores.list()}


def test_connections_and_secrets(hub: Hub) -> None:
    ml = hub.ml
    ml.connections.create_or_update(
        AzureOpenAIConnection(
            name="aoai",
            azure_endpoint="https://aoai-eastus.openai.azure.com/",
            credentials=ApiKeyConfiguration(key="sk-secret"),
            api_version="2024-02-01",
        )
    )
    got = ml.connections.get("aoai")
    assert got.target == "https://aoai-eastus.openai.azure.com/"
    assert not getattr(got.credentials, "key", None)
    assert ml.connections.get("aoai", populate_secrets=True).credentials.key == "sk-secret"
    assert "aoai" in {c.name for c in ml.connections.list()}


# ---- computes and quota -------------------------------------------------------------------
def test_computes_and_quota(hub: Hub) -> None:
    ml = hub.ml
    settings(hub.arm, quotas={"eastus": {"standardDSv3Family": 32}})
    cluster = ml.compute.begin_create_or_update(
        AmlCompute(name="cpu", size="Standard_D4s_v3", min_instances=0, max_instances=4)
    ).result()
    assert cluster.size.lower() == "standard_d4s_v3" and cluster.max_instances == 4
    assert ml.compute.get("cpu").provisioning_state == "Succeeded"
    assert "cpu" in {c.name for c in ml.compute.list()}
    ci = ml.compute.begin_create_or_update(ComputeInstance(name="ci-dev", size="Standard_DS3_v2")).result()
    assert ci.state == "Running" and ci.size.lower() == "standard_ds3_v2"
    usages = {u.name["value"] if isinstance(u.name, dict) else u.name: u for u in ml.compute.list_usage()}
    assert "Standard DSv3 Family Cluster Dedicated vCPUs" in {str(getattr(k, "value", k)) for k in usages}
    with pytest.raises(HttpResponseError) as err:
        ml.compute.begin_create_or_update(
            AmlCompute(name="big", size="Standard_D4s_v3", max_instances=8)
        ).result()
    assert "QuotaExceeded" in str(err.value)
    settings(hub.arm, quotas={})


def test_usages_are_shaped_as_the_official_example(hub: Hub) -> None:
    """locations/{loc}/usages answers the rows of the 2024-04-01 example Usage/list.json (kept in
    tests/fixtures/azure_specs): every property with the same JSON type, the family names Azure
    uses, and the workspace- and compute-level rows that repeat them."""
    import json
    import re
    from pathlib import Path

    from azure.core.rest import HttpRequest

    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "azure_specs" / "mls-2024-04-01-Usage-list.json"
    want = json.loads(fixture.read_text())["responses"]["200"]["body"]["value"]
    client = hub.arm.client(ResourceManagementClient)
    url = (f"{hub.arm.config.arm_endpoint.rstrip('/')}/subscriptions/{hub.arm.subscription}/providers/"
           "Microsoft.MachineLearningServices/locations/eastus/usages?api-version=2024-04-01")  # fmt: skip
    got: list[dict] = []
    while url:  # paged, with nextLink, like every ARM list
        page = client._client.send_request(HttpRequest("GET", url)).json()
        got += page["value"]
        url = page.get("nextLink")
    by_type: dict[str, list[dict]] = {}
    for row in got:
        by_type.setdefault(row["type"], []).append(row)
    # the example also spells two rows "workspace/usages": Azure's own inconsistency, not copied
    for example in (r for r in want if "/workspace/" not in r["type"]):
        rows = by_type.get(example["type"])
        assert rows, f"no {example['type']} row in {sorted(by_type)}"
        for key, value in example.items():
            assert key in rows[0] and type(rows[0][key]) is type(value), (key, rows[0])
        assert set(rows[0]["name"]) == {"value", "localizedValue"}
    family_names = {r["name"]["value"] for r in by_type["Microsoft.MachineLearningServices/vmFamily/usages"]}
    assert all(re.fullmatch(r"Standard \S+ Family Cluster (Dedicated|LowPriority) vCPUs", n) for n in family_names)
    assert "Standard DSv3 Family Cluster Dedicated vCPUs" in family_names
    computes = by_type["Microsoft.MachineLearningServices/workspaces/computes/usages"]
    assert any("/computes/cpu/usages/Standard_DSv3_Family_Cluster_Dedicated_vCPUs" in r["id"] for r in computes)
    total = next(iter(by_type["Microsoft.MachineLearningServices/dedicatedCores/usages"]))
    family = next(r for r in by_type["Microsoft.MachineLearningServices/vmFamily/usages"]
                  if r["name"]["value"] == "Standard DSv3 Family Cluster Dedicated vCPUs")  # fmt: skip
    assert family["currentValue"] == 16 and total["currentValue"] >= 16  # the 4-node D4s_v3 cluster


# ---- online endpoints ---------------------------------------------------------------------
def _post(url: str, key: str, ca: str, body: dict, deployment: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_online_endpoints_deployments_keys_and_scoring(hub: Hub, tmp_path) -> None:
    ml, sb = hub.ml, hub.arm
    model = ml.models.create_or_update(
        Model(name="scorer", version="1", path="azureml://datastores/workspaceblobstore/paths/scorer")
    )
    env = ml.environments.create_or_update(
        Environment(name="serve", version="1", image="mcr.microsoft.com/x:1")
    )
    settings(sb, lro_delay={f"{MLS}/onlineEndpoints".lower(): 1.0})
    sb.control("DELETE", "/requests")
    ep = ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="ep1", auth_mode="key")
    ).result()
    polls = [
        e for e in sb.control("GET", "/requests") if "operationStatuses" in e["path"] and e["method"] == "GET"
    ]
    assert len(polls) > 1, polls
    settings(sb, lro_delay={})
    assert ep.scoring_uri.endswith("/ep1/score") and ep.provisioning_state == "Succeeded"
    for name in ("blue", "green"):
        dep = ml.online_deployments.begin_create_or_update(
            ManagedOnlineDeployment(
                name=name,
                endpoint_name="ep1",
                model=model.id,
                environment=env.id,
                instance_type="Standard_DS3_v2",
                instance_count=2,
            )
        ).result()
        assert dep.instance_count == 2
    assert {d.name for d in ml.online_deployments.list("ep1")} == {"blue", "green"}
    ep.traffic = {"blue": 80, "green": 20}
    ml.online_endpoints.begin_create_or_update(ep).result()
    keys = ml.online_endpoints.get_keys("ep1")
    assert keys.primary_key and keys.secondary_key
    assert not json.dumps(ml.online_endpoints.get("ep1")._to_dict()).count(keys.primary_key)
    seen = collections.Counter()
    for _ in range(40):
        status, body = _post(ep.scoring_uri, keys.primary_key, sb.ca, {"x": 1})
        assert status == 200 and body["endpoint"] == "ep1" and body["input_echo"] == {"x": 1}
        assert body["model"].lower() == model.id.lower()
        seen[body["deployment"]] += 1
    assert seen["blue"] > seen["green"] > 0
    assert _post(ep.scoring_uri, keys.primary_key, sb.ca, {}, deployment="green")[1]["deployment"] == "green"
    assert _post(ep.scoring_uri, "wrong", sb.ca, {})[0] == 401
    request_file = tmp_path / "req.json"
    request_file.write_text(json.dumps({"data": [1, 2]}))
    answer = json.loads(
        ml.online_endpoints.invoke("ep1", request_file=str(request_file), deployment_name="blue")
    )
    assert answer["deployment"] == "blue" and answer["input_echo"] == {"data": [1, 2]}
    sb.control("POST", "/faults", {"outage": {"region": "eastus"}})
    try:
        assert _post(ep.scoring_uri, keys.primary_key, sb.ca, {})[0] == 503
    finally:
        sb.control("POST", "/heal")
    logged = [e for e in sb.control("GET", "/requests") if e["service"] == "scoring"]
    assert {(e["region"], e["status"]) for e in logged} >= {("eastus", 200), ("eastus", 401), ("eastus", 503)}
    # a deployment whose model does not exist fails its long-running operation
    with pytest.raises(HttpResponseError):
        ml.online_deployments.begin_create_or_update(
            ManagedOnlineDeployment(
                name="broken",
                endpoint_name="ep1",
                model=model.id.replace("/scorer/", "/missing/"),
                environment=env.id,
                instance_type="Standard_DS3_v2",
                instance_count=1,
            )
        ).result()
    assert ml.online_deployments.get("broken", "ep1").provisioning_state == "Failed"


# ---- batch endpoints, jobs, schedules -----------------------------------------------------
def test_batch_endpoint(hub: Hub) -> None:
    ml = hub.ml
    be = ml.batch_endpoints.begin_create_or_update(
        BatchEndpoint(name="batch1", description="nightly")
    ).result()
    assert be.name == "batch1" and be.provisioning_state == "Succeeded"
    assert ml.batch_endpoints.get("batch1").description == "nightly"
    assert "batch1" in {b.name for b in ml.batch_endpoints.list()}
    model = ml.models.create_or_update(
        Model(
            name="batchmodel",
            version="1",
            type=AssetTypes.MLFLOW_MODEL,
            path="azureml://datastores/workspaceblobstore/paths/bm",
        )
    )
    dep = ml.batch_deployments.begin_create_or_update(
        ModelBatchDeployment(
            name="bd1",
            endpoint_name="batch1",
            model=model.id,
            compute="cpu",
            settings=ModelBatchDeploymentSettings(instance_count=2, mini_batch_size=5),
        )
    ).result()
    assert dep.provisioning_state == "Succeeded" and dep.resources.instance_count == 2
    assert [d.name for d in ml.batch_deployments.list("batch1")] == ["bd1"]


def test_jobs_list_get_cancel(hub: Hub) -> None:
    ml = hub.ml
    settings(hub.arm, jobs_run_seconds=0.5)
    ml.environments.create_or_update(Environment(name="jobenv", version="1", image="mcr.microsoft.com/y:1"))
    done = ml.jobs.create_or_update(command(command="echo hi", environment="azureml:jobenv:1", compute="cpu"))
    held = ml.jobs.create_or_update(
        command(
            command="sleep 1000",
            environment="azureml:jobenv:1",
            compute="cpu",
            properties={"sandbox.hold": "Running"},
        )
    )
    import time

    time.sleep(0.6)
    assert ml.jobs.get(done.name).status == "Completed"
    assert ml.jobs.get(held.name).status == "Running"
    assert {done.name, held.name} <= {j.name for j in ml.jobs.list()}
    ml.jobs.begin_cancel(held.name).result()
    assert ml.jobs.get(held.name).status in ("CancelRequested", "Canceled")
    with pytest.raises(ResourceNotFoundError):
        ml.jobs.get("no-such-job")


def test_schedules(hub: Hub) -> None:
    ml = hub.ml
    job = ml.jobs.create_or_update(
        command(command="echo nightly", environment="azureml:jobenv:1", compute="cpu")
    )
    sched = ml.schedules.begin_create_or_update(
        JobSchedule(name="nightly", trigger=CronTrigger(expression="0 2 * * *"), create_job=job.id)
    ).result()
    assert sched.is_enabled
    assert "nightly" in {s.name for s in ml.schedules.list()}
    ml.schedules.begin_disable("nightly").result()
    assert not ml.schedules.get("nightly").is_enabled


def test_reader_cannot_create(hub: Hub) -> None:
    reader = hub.client(principal="reader")
    assert reader.workspaces.get(hub.hub).name == hub.hub
    with pytest.raises(HttpResponseError) as err:
        reader.models.create_or_update(
            Model(name="nope", version="1", path="azureml://datastores/workspaceblobstore/paths/x")
        )
    assert err.value.status_code == 403


def test_contract_check_reads_the_model_of_the_version_sent(hub: Hub) -> None:
    """A hand-built body is read with the REST model of its api-version, as the RP would read it:
    a wrong type is refused; an unknown member is dropped (see machinelearningservices/models.py
    _versioned) and a read-only one ignored (core/contract.py); a version without a model is refused."""
    rid = f"{hub.ws_id(hub.hub)}/models/handmade/versions/1"
    rmc = hub.arm.client(ResourceManagementClient)
    body = {"properties": {"modelUri": "azureml://datastores/workspaceblobstore/paths/m", "flavors": "mlflow"}}
    for bad, why in (({"flavors": "mlflow"}, "flavors"), ({"stage": 3}, "stage")):
        wrong = {"properties": {"modelUri": body["properties"]["modelUri"], **bad}}
        with pytest.raises(HttpResponseError) as err:
            rmc.resources.begin_create_or_update_by_id(rid, wrong, api_version="2024-10-01").result()
        assert err.value.status_code == 400 and why in str(err.value), str(err.value)
    with pytest.raises(HttpResponseError) as err:
        rmc.resources.begin_create_or_update_by_id(rid, body, api_version="2019-05-01").result()
    assert err.value.error.code == "NoRegisteredProviderFound"
    body["properties"] = {"modelUri": body["properties"]["modelUri"], "flavours": {}}  # a typo: dropped
    rmc.resources.begin_create_or_update_by_id(rid, body, api_version="2024-10-01").result()
    assert hub.ml.models.get("handmade", "1").path.endswith("paths/m")


def test_user_assigned_identity_needs_its_identities_and_a_primary(arm: Arm) -> None:  # noqa: F811
    rg = f"rg-uai-{uuid.uuid4().hex[:6]}"
    rc = arm.client(ResourceManagementClient)
    rc.resource_groups.create_or_update(rg, {"location": "eastus"})
    uai = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/" \
          "userAssignedIdentities/id-test"
    rid = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/{MLS}/hub-uai"

    def put(identity: dict, **props: object) -> None:
        body = {"location": "eastus", "kind": "Hub", "identity": identity, "properties": {"friendlyName": "h", **props}}
        rc.resources.begin_create_or_update_by_id(rid, body, api_version=WS_API).result()

    with pytest.raises(HttpResponseError, match="userAssignedIdentities"):
        put({"type": "UserAssigned"})
    with pytest.raises(HttpResponseError, match="primaryUserAssignedIdentity"):
        put({"type": "UserAssigned", "userAssignedIdentities": {uai: {}}})
    put({"type": "UserAssigned", "userAssignedIdentities": {uai: {}}}, primaryUserAssignedIdentity=uai)
    put({"type": "SystemAssigned"})  # a system-assigned identity needs neither
