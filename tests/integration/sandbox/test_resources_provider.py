"""Microsoft.Resources deployments and what-if, and the misc providers, through the real SDK clients."""

from __future__ import annotations

import copy
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm_harness import Arm
from sandbox_arm_harness import arm as arm  # noqa: F401  (the fixture, by its name)

from foundry_dr.tasks.templates import _change
from foundry_dr.what_if import classify

pytestmark = pytest.mark.integration

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
MLS = "Microsoft.MachineLearningServices/workspaces"


def _rg(arm: Arm, location: str = "eastus") -> str:
    name = f"rg-{uuid.uuid4().hex[:8]}"
    arm.client(ResourceManagementClient).resource_groups.create_or_update(name, {"location": location})
    return name


def _ids(arm: Arm, rg: str) -> dict[str, str]:
    base = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers"
    return {
        "storage": f"{base}/Microsoft.Storage/storageAccounts/stfdreastus",
        "vault": f"{base}/Microsoft.KeyVault/vaults/kv-{rg}",
        "insights": f"{base}/Microsoft.Insights/components/appi-{rg}",
        "logs": f"{base}/Microsoft.OperationalInsights/workspaces/log-{rg}",
        "registry": f"{base}/Microsoft.ContainerRegistry/registries/cr{rg.replace('-', '')}",
        "hub": f"{base}/{MLS}/hub-{rg}",
        "project": f"{base}/{MLS}/proj-{rg}",
    }


def _template(arm: Arm, rg: str) -> dict:
    """A literal hub template, the shape provision-secondary renders (5+ resources, a Project)."""
    ids = _ids(arm, rg)
    tenant = arm.config.tenant_id
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": MLS,
                "apiVersion": "2024-10-01",
                "name": f"proj-{rg}",
                "location": "eastus",
                "kind": "Project",
                "identity": {"type": "SystemAssigned"},
                "properties": {"friendlyName": "project", "hubResourceId": ids["hub"]},
                "dependsOn": [ids["hub"]],
            },
            {
                "type": MLS,
                "apiVersion": "2024-10-01",
                "name": f"hub-{rg}",
                "location": "eastus",
                "kind": "Hub",
                "identity": {"type": "SystemAssigned"},
                "properties": {
                    "friendlyName": "hub",
                    "storageAccount": ids["storage"],
                    "keyVault": ids["vault"],
                    "applicationInsights": ids["insights"],
                    "containerRegistry": ids["registry"],
                },
                "dependsOn": [
                    ids["storage"],
                    f"Microsoft.KeyVault/vaults/kv-{rg}",
                    ids["insights"],
                    ids["registry"],
                ],
            },
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": "stfdreastus",
                "location": "eastus",
                "kind": "StorageV2",
                "sku": {"name": "Standard_LRS"},
                "properties": {"minimumTlsVersion": "TLS1_2"},
            },
            {
                "type": "Microsoft.KeyVault/vaults",
                "apiVersion": "2023-07-01",
                "name": f"kv-{rg}",
                "location": "eastus",
                "properties": {
                    "tenantId": tenant,
                    "sku": {"family": "A", "name": "standard"},
                    "accessPolicies": [],
                    "enableRbacAuthorization": True,
                },
            },
            {
                "type": "Microsoft.Insights/components",
                "apiVersion": "2020-02-02",
                "name": f"appi-{rg}",
                "location": "eastus",
                "kind": "web",
                "properties": {"Application_Type": "web", "WorkspaceResourceId": ids["logs"]},
                "dependsOn": [ids["logs"]],
            },
            {
                "type": "Microsoft.ContainerRegistry/registries",
                "apiVersion": "2023-07-01",
                "name": f"cr{rg.replace('-', '')}",
                "location": "eastus",
                "sku": {"name": "Premium"},
                "properties": {"adminUserEnabled": False},
                "resources": [  # a nested child: type and name relative to the registry
                    {
                        "type": "replications",
                        "apiVersion": "2023-07-01",
                        "name": "westus",
                        "location": "westus",
                        "properties": {},
                    }
                ],
            },
            {  # Application Insights is workspace-based: it needs its Log Analytics workspace
                "type": "Microsoft.OperationalInsights/workspaces",
                "apiVersion": "2023-09-01",
                "name": f"log-{rg}",
                "location": "eastus",
                "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30},
            },
        ],
        "outputs": {"hubId": {"type": "string", "value": ids["hub"]}},
    }


def _deploy(client: DeploymentsMgmtClient, rg: str, name: str, template: dict):
    return client.deployments.begin_create_or_update(
        rg, name, {"properties": {"mode": "Incremental", "template": template}}
    ).result()


def test_literal_template_deploys_and_every_resource_gets(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    result = _deploy(client, rg, "hub", _template(arm, rg))
    assert result.properties.provisioning_state == "Succeeded"
    assert result.properties.mode == "Incremental"
    assert result.properties.timestamp is not None and result.properties.duration
    assert result.properties.outputs["hubId"]["value"] == _ids(arm, rg)["hub"]

    ids = _ids(arm, rg)
    replication = ids["registry"] + "/replications/westus"
    out = {r.id.lower() for r in result.properties.output_resources}
    assert out == {i.lower() for i in [*ids.values(), replication]}
    # dependsOn order: the hub after everything it references, the project after the hub
    ops = list(client.deployment_operations.list(rg, "hub"))
    order = [op.properties.target_resource.id.lower() for op in ops]
    assert order.index(ids["hub"].lower()) > max(
        order.index(ids[k].lower()) for k in ("storage", "vault", "insights", "registry")
    )
    assert order.index(ids["project"].lower()) > order.index(ids["hub"].lower())
    assert all(op.properties.provisioning_state == "Succeeded" for op in ops)

    resources = arm.client(ResourceManagementClient).resources
    for rid in [*ids.values(), replication]:  # each read with a version its type publishes
        got = resources.get_by_id(rid, api_version="2024-10-01" if "MachineLearningServices" in rid else "2023-07-01")
        assert got.id.lower() == rid.lower()
    project = resources.get_by_id(ids["project"], api_version="2024-10-01")
    assert project.kind == "Project" and project.properties["hubResourceId"].lower() == ids["hub"].lower()
    got = client.deployments.get(rg, "hub")
    assert got.properties.provisioning_state == "Succeeded"


def test_what_if_reports_create_modify_nochange(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = _template(arm, rg)
    _deploy(client, rg, "hub", template)
    changed = copy.deepcopy(template)
    ids = _ids(arm, rg)
    changed["resources"][1]["properties"]["friendlyName"] = "hub v2"  # Modify
    changed["resources"].append(  # Create
        {
            "type": "Microsoft.KeyVault/vaults",
            "apiVersion": "2023-07-01",
            "name": f"kv2-{rg}",
            "location": "eastus",
            "properties": {
                "tenantId": arm.config.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [],
            },
        }
    )
    result = client.deployments.begin_what_if(
        rg, "hub-whatif", {"properties": {"mode": "Incremental", "template": changed}}
    ).result()
    assert result.status == "Succeeded"
    by_id = {c.resource_id.lower(): c for c in result.changes}
    assert by_id[ids["hub"].lower()].change_type == "Modify"
    delta = by_id[ids["hub"].lower()].delta
    real = [(d.path, d.property_change_type, d.before, d.after) for d in delta if d.property_change_type != "Delete"]
    assert real == [("properties.friendlyName", "Modify", "hub", "hub v2")]
    new_vault = ids["vault"].replace(f"kv-{rg}", f"kv2-{rg}").lower()
    assert by_id[new_vault].change_type == "Create"
    assert by_id[new_vault].after["properties"]["tenantId"] == arm.config.tenant_id
    for k in ("storage", "vault", "insights"):  # types whose REST model the sandbox does not hold
        assert by_id[ids[k].lower()].change_type == "NoChange", k
    # Unchanged resources whose spec the sandbox holds show the RP's defaults the template leaves out
    # as property Deletes, as Azure's what-if does (Azure/arm-template-whatif#157, #275 for a
    # registry); read-only properties and provisioningState never appear. The product reads such a
    # Modify as noise (foundry_dr.what_if.classify: NoChange).
    for k in ("registry", "project"):
        change = by_id[ids[k].lower()]
        kinds = {d.property_change_type for d in change.delta or []}
        assert change.change_type == "Modify" and kinds == {"Delete"}, (k, change.delta)
        assert not any(d.path.endswith("provisioningState") for d in change.delta), k
        assert classify(_change(change)) == "NoChange", k
    assert classify(_change(by_id[ids["hub"].lower()])) == "Modify"  # the real change still counts
    # what-if changes nothing
    with pytest.raises(ResourceNotFoundError):
        arm.client(ResourceManagementClient).resources.get_by_id(new_vault, api_version="2023-07-01")

    # a resource of the group the template leaves out: Ignore (Incremental), Delete (Complete)
    smaller = copy.deepcopy(template)
    smaller["resources"] = [r for r in smaller["resources"] if r["type"] != "Microsoft.Insights/components"]
    smaller["resources"][1]["dependsOn"].remove(ids["insights"])
    for mode, expected in (("Incremental", "Ignore"), ("Complete", "Delete")):
        result = client.deployments.begin_what_if(
            rg, "hub-whatif", {"properties": {"mode": mode, "template": smaller}}
        ).result()
        by_id = {c.resource_id.lower(): c for c in result.changes}
        assert by_id[ids["insights"].lower()].change_type == expected, mode
    assert [d.name for d in client.deployments.list_by_resource_group(rg)] == ["hub"]


def test_what_if_reports_read_only_properties_as_no_effect(arm: Arm) -> None:
    """A template that sets a property the RP's REST model marks read-only (the hub's
    ``workspaceId``) gets a Modify whose only property change is NoEffect, as ARM's what-if
    reports it; the product reads that as no change (foundry_dr.what_if)."""
    from foundry_dr.tasks.templates import _change
    from foundry_dr.what_if import classify, needs_approval

    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = _template(arm, rg)
    _deploy(client, rg, "hub", template)
    noisy = copy.deepcopy(template)
    noisy["resources"][1]["properties"]["workspaceId"] = "00000000-0000-0000-0000-0000000000aa"
    result = client.deployments.begin_what_if(
        rg, "hub-whatif", {"properties": {"mode": "Incremental", "template": noisy}}
    ).result()
    hub = next(c for c in result.changes if c.resource_id.lower() == _ids(arm, rg)["hub"].lower())
    assert hub.change_type == "Modify"
    delta = [(d.path, d.property_change_type) for d in hub.delta]
    assert [d for d in delta if d[1] != "Delete"] == [("properties.workspaceId", "NoEffect")]  # + defaulted noise
    changes = [_change(c) for c in result.changes]
    assert classify(next(c for c in changes if c["resource_id"].lower() == hub.resource_id.lower())) == "NoChange"
    assert not needs_approval(changes)


def test_classic_application_insights_is_refused(arm: Arm) -> None:
    """Classic Application Insights is retired: a new component without a Log Analytics
    workspace fails the deployment; with one it is workspace-based (IngestionMode LogAnalytics)."""
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = _template(arm, rg)
    appi = next(r for r in template["resources"] if r["type"] == "Microsoft.Insights/components")
    classic = copy.deepcopy(template)
    classic_appi = next(r for r in classic["resources"] if r["type"] == "Microsoft.Insights/components")
    classic_appi["properties"].pop("WorkspaceResourceId")
    with pytest.raises(HttpResponseError, match="WorkspaceResourceId"):
        _deploy(client, rg, "classic", classic)
    _deploy(client, rg, "hub", template)
    got = arm.client(ResourceManagementClient).resources.get_by_id(_ids(arm, rg)["insights"], api_version="2020-02-02")
    assert got.properties["IngestionMode"] == "LogAnalytics" and appi["properties"]["WorkspaceResourceId"]


def test_reader_cannot_deploy(arm: Arm) -> None:
    rg = _rg(arm)
    reader = arm.client(DeploymentsMgmtClient, principal="reader")
    with pytest.raises(HttpResponseError) as err:
        _deploy(reader, rg, "nope", _template(arm, rg))
    assert err.value.status_code == 403 and err.value.error.code == "AuthorizationFailed"


def test_template_expression_is_refused(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = _template(arm, rg)
    template["resources"][2]["location"] = "[resourceGroup().location]"
    with pytest.raises(HttpResponseError) as err:
        _deploy(client, rg, "bad", template)
    assert err.value.error.code == "InvalidTemplate"
    assert "[resourceGroup().location]" in err.value.message and "resources[2]" in err.value.message
    with pytest.raises(HttpResponseError) as err:
        client.deployments.begin_what_if(
            rg, "bad", {"properties": {"mode": "Incremental", "template": template}}
        )
    assert err.value.error.code == "InvalidTemplate"


def test_dependency_cycle_and_unknown_dependency_are_refused(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = _template(arm, rg)
    template["resources"][2]["dependsOn"] = [_ids(arm, rg)["hub"]]  # storage <- hub <- storage
    with pytest.raises(HttpResponseError) as err:
        _deploy(client, rg, "cycle", template)
    assert err.value.error.code == "InvalidTemplate" and "Circular dependency" in err.value.message
    template["resources"][2]["dependsOn"] = ["Microsoft.Storage/storageAccounts/nosuch"]
    with pytest.raises(HttpResponseError) as err:
        _deploy(client, rg, "unknown", template)
    assert err.value.error.code == "InvalidTemplate" and "nosuch" in err.value.message


def test_failing_resource_fails_the_deployment_with_details(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    template = {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.ContainerRegistry/registries",
                "apiVersion": "2023-07-01",
                "name": f"cr{rg[3:]}basic",
                "location": "eastus",
                "sku": {"name": "Basic"},
                "properties": {},
            },
            {
                "type": "Microsoft.ContainerRegistry/registries/replications",
                "apiVersion": "2023-07-01",
                "name": f"cr{rg[3:]}basic/westus",
                "location": "westus",
                "properties": {},
                "dependsOn": [f"cr{rg[3:]}basic"],
            },
        ],
    }
    with pytest.raises(HttpResponseError) as err:
        _deploy(client, rg, "fails", template)
    assert err.value.error.code == "DeploymentFailed"
    detail = err.value.error.details[0]
    assert detail.code == "RegistrySkuNotSupported" and "replications/westus" in detail.target
    got = client.deployments.get(rg, "fails")
    assert got.properties.provisioning_state == "Failed"
    assert got.properties.error.details[0].code == "RegistrySkuNotSupported"


def test_validate(arm: Arm) -> None:
    rg = _rg(arm)
    client = arm.client(DeploymentsMgmtClient)
    result = client.deployments.begin_validate(
        rg, "v", {"properties": {"mode": "Incremental", "template": _template(arm, rg)}}
    ).result()
    assert result.error is None
    assert len(result.properties.validated_resources) == 8  # 7 resources (Log Analytics included) + the replication


def test_key_vault_soft_delete_and_recover(arm: Arm) -> None:
    rg = _rg(arm)
    resources = arm.client(ResourceManagementClient).resources
    name = f"kv-{uuid.uuid4().hex[:8]}"
    rid = f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}"
    body = {
        "location": "eastus",
        "properties": {
            "tenantId": arm.config.tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [],
        },
    }
    vault = resources.begin_create_or_update_by_id(rid, body, api_version="2023-07-01").result()
    assert vault.properties["vaultUri"] == arm.config.keyvault_uri
    assert vault.properties["enableSoftDelete"] is True
    resources.begin_delete_by_id(rid, api_version="2023-07-01").result()
    with pytest.raises(ResourceNotFoundError):
        resources.get_by_id(rid, api_version="2023-07-01")
    sub = f"/subscriptions/{arm.subscription}"
    deleted_id = f"{sub}/providers/Microsoft.KeyVault/locations/eastus/deletedVaults/{name}"
    deleted = resources.get_by_id(deleted_id, api_version="2023-07-01")
    assert deleted.properties["vaultId"].lower() == rid.lower()
    with pytest.raises(HttpResponseError) as err:
        resources.begin_create_or_update_by_id(rid, body, api_version="2023-07-01").result()
    assert err.value.status_code == 409 and "recover" in err.value.message
    body["properties"]["createMode"] = "recover"
    recovered = resources.begin_create_or_update_by_id(rid, body, api_version="2023-07-01").result()
    assert recovered.properties["vaultUri"] == arm.config.keyvault_uri
    with pytest.raises(ResourceNotFoundError):
        resources.get_by_id(deleted_id, api_version="2023-07-01")


def test_storage_account_outside_the_sandbox_is_refused(arm: Arm) -> None:
    rg = _rg(arm)
    resources = arm.client(ResourceManagementClient).resources
    base = (
        f"/subscriptions/{arm.subscription}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts"
    )
    ok = resources.begin_create_or_update_by_id(
        f"{base}/stfdrwestus",
        {"location": "westus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        api_version="2023-05-01",
    ).result()
    assert ok.properties["primaryEndpoints"]["blob"] == arm.config.blob_endpoint("stfdrwestus")
    with pytest.raises(HttpResponseError) as err:
        resources.begin_create_or_update_by_id(
            f"{base}/notinsandbox",
            {"location": "eastus", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
            api_version="2023-05-01",
        ).result()
    assert err.value.status_code == 400 and "stfdreastus" in err.value.message


def test_cognitive_services_soft_delete_and_restore(arm: Arm) -> None:
    rg = _rg(arm)
    resources = arm.client(ResourceManagementClient).resources
    name = f"ais-{uuid.uuid4().hex[:8]}"
    sub = f"/subscriptions/{arm.subscription}"
    rid = f"{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices/accounts/{name}"
    body = {
        "location": "eastus",
        "kind": "AIServices",
        "sku": {"name": "S0"},
        "properties": {"customSubDomainName": name},
    }
    acct = resources.begin_create_or_update_by_id(rid, body, api_version="2024-10-01").result()
    assert acct.properties["endpoint"] == f"https://{name}.cognitiveservices.azure.com/"
    resources.begin_delete_by_id(rid, api_version="2024-10-01").result()
    deleted_id = (
        f"/subscriptions/{arm.subscription}/providers/Microsoft.CognitiveServices/locations/eastus/"
        f"resourceGroups/{rg}/deletedAccounts/{name}"
    )
    assert resources.get_by_id(deleted_id, api_version="2024-10-01").name == name
    with pytest.raises(HttpResponseError) as err:
        resources.begin_create_or_update_by_id(rid, body, api_version="2024-10-01").result()
    assert err.value.error.code == "FlagMustBeSetForRestore"
    body["properties"]["restore"] = True
    restored = resources.begin_create_or_update_by_id(rid, body, api_version="2024-10-01").result()
    assert restored.properties["endpoint"] == acct.properties["endpoint"]
