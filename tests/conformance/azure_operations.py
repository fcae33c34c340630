"""The ARM operations the runbooks call, each mapped to its official example (issue 15, part 1).

An operation is ``(METHOD, "Provider/type[/child...]")``, read off a request path the way
:func:`operation_of` does. Every entry names the fixture under ``tests/fixtures/azure_specs``
that holds the example from ``Azure/azure-rest-api-specs`` (its ``_source`` records repo, path
and commit), or ``None`` while no example is kept yet (a corpus gap, reported by the tests as a
strict xfail). ``sdk_api_version`` is what the product sends; the fixture's own api-version is in
its ``parameters``: when they differ, the fixture's note says why (the nearest stable example).

LRO status polls (``locations/operationStatuses``, ``locations/whatIfOperationResults``) belong to
the operation that started them and are listed in :data:`POLLS`, not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "azure_specs"
MLS = "Microsoft.MachineLearningServices"


@dataclass(frozen=True)
class Operation:
    fixture: str | None
    sdk_api_version: str
    called_by: str


OPERATIONS: dict[tuple[str, str], Operation] = {
    # ---- Microsoft.MachineLearningServices ----------------------------------------------
    ("GET", f"{MLS}/locations/usages"): Operation(
        "mls-2024-04-01-Usage-list.json", "2024-04-01-preview", "tasks/quota.py ml.compute.list_usage"),
    ("GET", f"{MLS}/locations/vmSizes"): Operation(
        "mls-2024-04-01-VirtualMachineSize-list.json", "2024-04-01-preview", "tasks/quota.py ml.compute.list_sizes"),
    ("GET", f"{MLS}/workspaces"): Operation(
        "mls-2024-04-01-Workspace-get.json", "2024-04-01", "tasks/workspace.py _arm_get (WS_API)"),
    ("PUT", f"{MLS}/workspaces"): Operation(None, "2024-04-01", "the ARM template (tasks/templates.py deploy)"),
    ("GET", f"{MLS}/workspaces/computes"): Operation(
        "mls-2024-04-01-Compute-get-AmlCompute.json", "2024-04-01-preview", "tasks/workspace.py ml.compute.list"),
    ("PUT", f"{MLS}/workspaces/computes"): Operation(None, "2024-04-01", "the ARM template"),
    ("GET", f"{MLS}/workspaces/datastores"): Operation(
        "mls-2024-10-01-Datastore-get.json", "2024-10-01-preview", "ml.datastores.list / get"),
    ("PUT", f"{MLS}/workspaces/datastores"): Operation(
        "mls-2024-10-01-Datastore-AzureBlobWAccountKey-createOrUpdate.json", "2024-10-01-preview",
        "ml.datastores.create_or_update"),
    ("GET", f"{MLS}/workspaces/connections"): Operation(None, "2024-04-01-preview", "ml.connections.list / get"),
    ("PUT", f"{MLS}/workspaces/connections"): Operation(None, "2024-04-01", "the ARM template"),
    ("GET", f"{MLS}/workspaces/onlineEndpoints"): Operation(
        "mls-2024-04-01-OnlineEndpoint-get.json", "2022-02-01-preview", "tasks/endpoints.py ml.online_endpoints"),
    ("PUT", f"{MLS}/workspaces/onlineEndpoints"): Operation(
        "mls-2024-10-01-OnlineEndpoint-createOrUpdate.json", "2022-02-01-preview", "tasks/endpoints.py"),
    ("POST", f"{MLS}/workspaces/onlineEndpoints/listKeys"): Operation(None, "2022-02-01-preview", "tasks/smoke.py"),
    ("GET", f"{MLS}/workspaces/onlineEndpoints/deployments"): Operation(
        "mls-2024-10-01-ManagedOnlineDeployment-get.json", "2023-04-01-preview", "endpoints.py"),
    ("PUT", f"{MLS}/workspaces/onlineEndpoints/deployments"): Operation(
        "mls-2024-10-01-ManagedOnlineDeployment-createOrUpdate.json", "2023-04-01-preview", "endpoints.py"),
    ("DELETE", f"{MLS}/workspaces/onlineEndpoints/deployments"): Operation(None, "2023-04-01-preview", "endpoints.py"),
    ("GET", f"{MLS}/workspaces/batchEndpoints"): Operation(
        "mls-2024-10-01-BatchEndpoint-get.json", "2023-10-01", "tasks/endpoints.py"),
    ("PUT", f"{MLS}/workspaces/batchEndpoints"): Operation(
        "mls-2024-10-01-BatchEndpoint-createOrUpdate.json", "2023-10-01", "tasks/endpoints.py"),
    ("GET", f"{MLS}/workspaces/batchEndpoints/deployments"): Operation(
        "mls-2024-10-01-BatchDeployment-get.json", "2024-01-01-preview", "tasks/endpoints.py"),
    ("PUT", f"{MLS}/workspaces/batchEndpoints/deployments"): Operation(None, "2023-10-01", "tasks/endpoints.py"),
    ("GET", f"{MLS}/workspaces/models"): Operation(
        "mls-2024-10-01-ModelContainer-get.json", "2023-08-01-preview", "tasks/assets.py (containers)"),
    ("GET", f"{MLS}/workspaces/models/versions"): Operation(
        "mls-2024-10-01-ModelVersion-get.json", "2023-08-01-preview", "tasks/assets.py"),
    ("GET", f"{MLS}/workspaces/environments"): Operation(
        "mls-2024-10-01-EnvironmentContainer-get.json", "2023-04-01-preview", "tasks/assets.py (containers)"),
    ("GET", f"{MLS}/workspaces/data"): Operation(None, "2023-04-01", "tasks/assets.py (containers)"),
    ("GET", f"{MLS}/workspaces/data/versions"): Operation(
        "mls-2024-10-01-DataVersionBase-get.json", "2023-04-01-preview", "tasks/assets.py"),
    ("GET", f"{MLS}/workspaces/components"): Operation(None, "2024-01-01-preview", "tasks/assets.py (containers)"),
    ("PUT", f"{MLS}/workspaces/models/versions"): Operation(
        "mls-2024-10-01-ModelVersion-createOrUpdate.json", "2023-08-01-preview", "tasks/assets.py"),
    ("DELETE", f"{MLS}/workspaces/models/versions"): Operation(None, "2023-04-01", "tasks/assets.py"),
    ("GET", f"{MLS}/workspaces/environments/versions"): Operation(
        "mls-2024-10-01-EnvironmentVersion-get.json", "2023-04-01-preview", "tasks/assets.py"),
    ("PUT", f"{MLS}/workspaces/environments/versions"): Operation(
        "mls-2024-10-01-EnvironmentVersion-createOrUpdate.json", "2023-04-01-preview", "tasks/assets.py"),
    ("PUT", f"{MLS}/workspaces/data/versions"): Operation(
        "mls-2024-10-01-DataVersionBase-createOrUpdate.json", "2023-04-01-preview", "tasks/assets.py"),
    ("GET", f"{MLS}/workspaces/components/versions"): Operation(None, "2024-01-01-preview", "tasks/assets.py"),
    ("PUT", f"{MLS}/workspaces/components/versions"): Operation(None, "2024-01-01-preview", "tasks/assets.py"),
    ("GET", f"{MLS}/workspaces/jobs"): Operation(None, "2024-01-01-preview", "tasks/jobs.py ml.jobs.list"),
    ("PUT", f"{MLS}/workspaces/jobs"): Operation(None, "2024-01-01-preview", "tasks/jobs.py"),
    ("GET", f"{MLS}/workspaces/schedules"): Operation(None, "2024-01-01-preview", "tasks/jobs.py ml.schedules.list"),
    ("PUT", f"{MLS}/workspaces/schedules"): Operation(None, "2024-01-01-preview", "tasks/jobs.py"),
    ("GET", f"{MLS}/workspaces/codes"): Operation(None, "2023-04-01", "tasks/assets.py (containers)"),
    ("GET", f"{MLS}/workspaces/codes/versions"): Operation(None, "2023-04-01", "tasks/assets.py"),
    ("PUT", f"{MLS}/workspaces/codes/versions"): Operation(None, "2023-04-01", "tasks/assets.py"),
    # ---- Microsoft.Authorization (role assignments at a resource's scope) ---------------
    ("GET", "Microsoft.Authorization/roleAssignments"): Operation(None, "2022-04-01", "tasks/role_assignments.py"),
    ("PUT", "Microsoft.Authorization/roleAssignments"): Operation(None, "2022-04-01", "tasks/role_assignments.py"),
    ("GET", "Microsoft.Authorization/roleDefinitions"): Operation(None, "2022-04-01", "tasks/role_assignments.py"),
    ("PUT", "Microsoft.Authorization/roleDefinitions"): Operation(None, "2022-04-01", "tasks/role_assignments.py"),
    # ---- Microsoft.Resources ------------------------------------------------------------
    ("POST", "Microsoft.Resources/deployments/whatIf"): Operation(
        "resources-2025-04-01-Deployments-WhatIf-resourceGroup.json", "2026-06-01",
        "tasks/templates.py what_if (deployments.begin_what_if)"),
    ("PUT", "Microsoft.Resources/deployments"): Operation(
        "resources-2025-04-01-PutDeploymentResourceGroup.json", "2026-06-01", "tasks/templates.py deploy"),
    ("GET", "Microsoft.Resources/deployments"): Operation(None, "2026-06-01", "tasks/templates.py deploy (poll)"),
    ("GET", "Microsoft.Resources/deployments/operations"): Operation(
        None, "2026-06-01", "tasks/templates.py _follow (deployment progress)"),
    ("GET", "resourceGroups"): Operation(None, "2025-04-01", "tasks/templates.py resource_group_exists"),
    ("HEAD", "resourceGroups"): Operation(None, "2025-04-01", "tasks/templates.py resource_group_exists"),
    ("PUT", "resourceGroups"): Operation(None, "2025-04-01", "tasks/templates.py ensure_resource_group"),
    # ---- Microsoft.ContainerRegistry ----------------------------------------------------
    ("GET", "Microsoft.ContainerRegistry/registries"): Operation(
        "acr-2025-11-01-Registry-get.json", "2025-11-01", "tasks/registry.py registries.get"),
    ("PUT", "Microsoft.ContainerRegistry/registries"): Operation(None, "2025-11-01", "the ARM template"),
    ("GET", "Microsoft.ContainerRegistry/registries/replications"): Operation(
        None, "2025-11-01", "tasks/registry.py replications.list"),
    ("PUT", "Microsoft.ContainerRegistry/registries/replications"): Operation(
        None, "2025-11-01", "tasks/registry.py replications.begin_create"),
    ("POST", "Microsoft.ContainerRegistry/registries/importImage"): Operation(
        "acr-2025-11-01-ImportImageByManifestDigest.json", "2025-11-01",
        "tasks/registry.py registries.begin_import_image"),
    # ---- linked resources, read and created as generic ARM resources --------------------
    ("GET", "Microsoft.Storage/storageAccounts"): Operation(
        "storage-2023-05-01-StorageAccountGetProperties.json", "2023-05-01", "tasks/workspace.py _linked"),
    ("PUT", "Microsoft.Storage/storageAccounts"): Operation(None, "2023-05-01", "the ARM template"),
    ("GET", "Microsoft.KeyVault/vaults"): Operation(
        "keyvault-2023-07-01-getVault.json", "2023-07-01", "tasks/workspace.py"),
    ("PUT", "Microsoft.KeyVault/vaults"): Operation(None, "2023-07-01", "the ARM template"),
    ("GET", "Microsoft.Insights/components"): Operation(None, "2020-02-02", "tasks/workspace.py _linked"),
    ("PUT", "Microsoft.Insights/components"): Operation(None, "2020-02-02", "the ARM template"),
    ("GET", "Microsoft.OperationalInsights/workspaces"): Operation(None, "2023-09-01", "tasks/workspace.py"),
    ("PUT", "Microsoft.OperationalInsights/workspaces"): Operation(None, "2023-09-01", "the ARM template"),
    ("GET", "Microsoft.CognitiveServices/accounts"): Operation(None, "2024-10-01", "tasks/workspace.py _linked"),
    ("PUT", "Microsoft.CognitiveServices/accounts"): Operation(None, "2024-10-01", "the ARM template"),
    ("DELETE", "Microsoft.CognitiveServices/accounts"): Operation(None, "2024-10-01", "drills / fail-back"),
    ("GET", "Microsoft.CognitiveServices/locations/resourceGroups/deletedAccounts"): Operation(
        None, "2024-10-01", "tasks/workspace.py _deleted_ai_services"),
    ("GET", "Microsoft.CognitiveServices/accounts/deployments"): Operation(None, "2024-10-01", "model deployments"),
    ("PUT", "Microsoft.CognitiveServices/accounts/deployments"): Operation(None, "2024-10-01", "model deployments"),
    ("GET", "Microsoft.CognitiveServices/accounts/raiPolicies"): Operation(None, "2024-10-01", "content filters"),
    ("PUT", "Microsoft.CognitiveServices/accounts/raiPolicies"): Operation(None, "2024-10-01", "content filters"),
    ("GET", "Microsoft.CognitiveServices/accounts/raiBlocklists"): Operation(None, "2024-10-01", "blocklists"),
    ("PUT", "Microsoft.CognitiveServices/accounts/raiBlocklists"): Operation(None, "2024-10-01", "blocklists"),
    ("GET", "Microsoft.CognitiveServices/accounts/raiBlocklists/raiBlocklistItems"): Operation(
        None, "2024-10-01", "blocklist items"),
    ("PUT", "Microsoft.CognitiveServices/accounts/raiBlocklists/raiBlocklistItems"): Operation(
        None, "2024-10-01", "blocklist items"),
    ("GET", "Microsoft.CognitiveServices/locations/models"): Operation(None, "2024-10-01", "model availability"),
    ("GET", "Microsoft.CognitiveServices/locations/modelCapacities"): Operation(None, "2024-10-01", "capacity"),
    ("GET", "Microsoft.CognitiveServices/locations/usages"): Operation(None, "2024-10-01", "quota"),
}  # fmt: skip

# LRO status routes: polled by the SDK after the operation that returned them (no example of their own).
POLLS = frozenset({
    ("GET", f"{MLS}/locations/operationStatuses"),
    ("GET", "Microsoft.Resources/locations/operationStatuses"),
    ("GET", "Microsoft.Resources/locations/whatIfOperationResults"),
    ("GET", "Microsoft.Storage/locations/operationStatuses"),
    ("GET", "Microsoft.CognitiveServices/locations/operationStatuses"),
    ("GET", "Microsoft.ContainerRegistry/locations/operationStatuses"),
})  # fmt: skip


def operation_of(method: str, path: str) -> tuple[str, str] | None:
    """``(METHOD, "Provider/type/child")`` of an ARM request path (names dropped, the action kept);
    ``"resourceGroups"`` for the group itself; None for a path outside a subscription."""
    segs = [s for s in path.split("?", 1)[0].strip("/").split("/") if s]
    if len(segs) < 2 or segs[0].lower() != "subscriptions":
        return None
    lowered = [s.lower() for s in segs]
    if "providers" not in lowered:
        return (method.upper(), "resourceGroups") if len(segs) in (3, 4) and lowered[2] == "resourcegroups" else None
    i = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, rest = segs[i + 1], segs[i + 2 :]
    types = [rest[j] for j in range(0, len(rest), 2)]  # type, name, type, name, ..., [action]
    return method.upper(), "/".join([namespace, *types])


def load(fixture: str) -> dict[str, Any]:
    return json.loads((FIXTURES / fixture).read_text())


def body(fixture: str, status: str = "200") -> Any:
    return load(fixture)["responses"][status]["body"]
