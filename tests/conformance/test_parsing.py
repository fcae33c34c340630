"""The product's parsing code takes each official example response as it is (issue 15, part 1 b).

Where the product parses the JSON itself (foundry_dr.quota, tasks/workspace._workspace on the
generic-resource document, what-if via tasks/templates._change and foundry_dr.what_if), that code
is run on the example; where an SDK deserializes the answer, it is the SDK model class the
product's client uses, then the attributes the product reads.
"""

from __future__ import annotations

from azure_operations import body

from foundry_dr.quota import TOTAL, subscription_usages


def test_usages_example_through_the_quota_reader() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import Usage

    rows = [Usage(v) for v in body("mls-2024-04-01-Usage-list.json")["value"]]  # what ml.compute.list_usage yields
    usages = subscription_usages([{"type": u.type, "name": u.name.value, "current": u.current_value,
                                   "limit": u.limit} for u in rows])  # fmt: skip
    assert usages[TOTAL].limit == 24 and usages["standarddsv2family"].current == 2


def test_vm_sizes_example_through_the_sdk_model() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import VirtualMachineSize

    sizes = [VirtualMachineSize(v) for v in body("mls-2024-04-01-VirtualMachineSize-list.json")["value"]]
    assert {s.name: (s.family, s.v_cp_us) for s in sizes}["Standard_DS2_v2"] == ("standardDSv2Family", 2)


def test_workspace_example_through_the_inventory_reader() -> None:
    from azure.mgmt.resource.resources.models import GenericResource

    from foundry_dr.tasks.workspace import _workspace

    example = body("mls-2024-04-01-Workspace-get.json")
    ws = _workspace(GenericResource(example).as_dict())  # resources.get_by_id(...).as_dict(), as _arm_get
    p = example["properties"]
    assert (ws["name"], ws["id"], ws["location"]) == (example["name"], example["id"], example["location"])
    assert ws["storageAccount"] == p["storageAccount"] and ws["keyVault"] == p["keyVault"]
    assert ws["applicationInsights"] == p["applicationInsights"]
    assert ws["containerRegistry"] == p["containerRegistry"]
    assert ws["publicNetworkAccess"] == "Disabled" and ws["friendlyName"] == "HelloName"
    assert ws["identityType"] == "SystemAssigned,UserAssigned"
    assert list(ws["identity"]["userAssignedIdentities"]) == list(example["identity"]["userAssignedIdentities"])
    assert ws["tenantId"] == example["identity"]["tenantId"]  # no properties.tenantId in the example


def test_compute_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import ComputeResource
    from azure.ai.ml.entities import AmlCompute, Compute

    c = Compute._from_rest_object(ComputeResource(body("mls-2024-04-01-Compute-get-AmlCompute.json")))
    assert isinstance(c, AmlCompute)
    # what tasks/workspace._computes reads
    assert (c.size, c.min_instances, c.max_instances, c.tier) == ("STANDARD_NC6", 0, 1, "dedicated")
    assert c.idle_time_before_scale_down == 300 and c.location == "eastus2"
    assert str(c.provisioning_state).lower().endswith("succeeded")


def test_online_endpoint_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import OnlineEndpoint as RestOnlineEndpoint
    from azure.ai.ml.entities import OnlineEndpoint

    e = OnlineEndpoint._from_rest_object(RestOnlineEndpoint(body("mls-2024-04-01-OnlineEndpoint-get.json")))
    assert e.traffic == {"string": 1} and e.auth_mode == "aml_token"
    assert e.scoring_uri == "https://www.contoso.com/example"


def test_what_if_example_through_the_what_if_reader() -> None:
    from azure.mgmt.resource.deployments.models import WhatIfOperationResult

    from foundry_dr.tasks.templates import _change
    from foundry_dr.what_if import failure, needs_approval, summarize

    result = WhatIfOperationResult(body("resources-2025-04-01-Deployments-WhatIf-resourceGroup.json"))
    assert failure(result.status, result.error.as_dict() if result.error is not None else None) is None
    changes = [_change(c) for c in result.changes]
    assert summarize(changes) == {"Modify": 1, "Create": 1}
    assert changes[0]["paths"] == ["tags.myNewTag"] and needs_approval(changes)
    assert changes[1]["resource_id"].endswith("/userAssignedIdentities/myNewIdentity")


def test_registry_example_through_the_sdk_model() -> None:
    from azure.mgmt.containerregistry.models import Registry

    registry = Registry(body("acr-2025-11-01-Registry-get.json"))
    # tasks/registry.py: sku.name compared with "Premium", login_server lower-cased
    assert registry.sku.name == "Standard" and registry.sku.name != "Premium"
    assert (registry.login_server or "").lower() == "myregistry.azurecr.io"


# The examples' ids are the placeholder "string"; azure-ai-ml parses an asset's id into its name
# and version, so these tests give the example a real ARM id of the same resource type.
WS = ("/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/test-rg/providers/"
      "Microsoft.MachineLearningServices/workspaces/my-aml-workspace")  # fmt: skip


def _with_id(example: dict, rid: str) -> dict:
    return {**example, "id": rid, "name": rid.rsplit("/", 1)[-1]}


def test_model_version_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import ModelVersion
    from azure.ai.ml.entities import Model

    m = Model._from_rest_object(ModelVersion(_with_id(body("mls-2024-10-01-ModelVersion-get.json"),
                                                      f"{WS}/models/m/versions/1")))  # fmt: skip
    assert (m.name, m.version, m.type) == ("m", "1", "CustomModel") and "string" in m.flavors


def test_batch_endpoint_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import BatchEndpoint as RestBatchEndpoint
    from azure.ai.ml.entities import BatchEndpoint

    b = BatchEndpoint._from_rest_object(RestBatchEndpoint(body("mls-2024-10-01-BatchEndpoint-get.json")))
    assert b.auth_mode == "aml_token" and b.defaults.deployment_name == "string"


def test_online_deployment_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import OnlineDeployment as RestOnlineDeployment
    from azure.ai.ml.entities import ManagedOnlineDeployment, OnlineDeployment

    d = OnlineDeployment._from_rest_object(RestOnlineDeployment(_with_id(
        body("mls-2024-10-01-ManagedOnlineDeployment-get.json"), f"{WS}/onlineEndpoints/ep/deployments/blue")))
    assert isinstance(d, ManagedOnlineDeployment)  # endpointComputeType Managed
    # what tasks/endpoints.py copies: instance type and count (sku.capacity), model, environment
    assert (d.instance_type, d.instance_count, d.model, d.environment) == ("string", 1, "string", "string")


def test_datastore_example_through_azure_ai_ml() -> None:
    from azure.ai.ml._restclient.arm_ml_service.models import Datastore as RestDatastore
    from azure.ai.ml.entities import AzureBlobDatastore
    from azure.ai.ml.entities._datastore.datastore import Datastore

    ds = Datastore._from_rest_object(RestDatastore(_with_id(body("mls-2024-10-01-Datastore-get.json"),
                                                            f"{WS}/datastores/ds")))  # fmt: skip
    assert isinstance(ds, AzureBlobDatastore) and (ds.account_name, ds.container_name) == ("string", "string")
