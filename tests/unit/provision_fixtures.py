"""A primary inventory shaped like tasks/workspace.read_inventory's output (the seeded sandbox)."""

from __future__ import annotations

import copy
from typing import Any

SUB = "00000000-0000-4000-8000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-foundry-eastus/providers"

PRIMARY: dict[str, Any] = {
    "hub": {
        "name": "hub-contoso-eastus", "id": f"{RG}/Microsoft.MachineLearningServices/workspaces/hub-contoso-eastus",
        "location": "eastus", "kind": "Hub", "sku": {"name": "Basic", "tier": "Basic"},
        "identityType": "SystemAssigned", "tags": {"env": "prod"}, "friendlyName": "Contoso AI hub (eastus)",
        "description": "[prod] hub", "publicNetworkAccess": "Enabled", "isolationMode": "Disabled",
        "storageAccount": f"{RG}/Microsoft.Storage/storageAccounts/stfdreastus",
        "keyVault": f"{RG}/Microsoft.KeyVault/vaults/kv-fdr-shared",
        "applicationInsights": f"{RG}/Microsoft.Insights/components/appi-contoso-eastus",
        "containerRegistry": f"{RG}/Microsoft.ContainerRegistry/registries/acrfdrshared",
        "enableDataIsolation": True, "tenantId": "t",
    },
    "projects": [
        {"name": p, "id": f"{RG}/Microsoft.MachineLearningServices/workspaces/{p}", "location": "eastus",
         "kind": "Project", "sku": {"name": "Basic", "tier": "Basic"}, "identityType": "SystemAssigned",
         "tags": {}, "friendlyName": p, "description": None,
         "hubResourceId": f"{RG}/Microsoft.MachineLearningServices/workspaces/hub-contoso-eastus"}
        for p in ("proj-chat", "proj-vision")
    ],
    "computes": [
        {"workspace": "proj-chat", "name": "cpu-cluster", "computeType": "AmlCompute", "vmSize": "STANDARD_DS3_V2",
         "vmPriority": "Dedicated", "minNodeCount": 1, "maxNodeCount": 4, "idleSeconds": 120.0},
        {"workspace": "proj-vision", "name": "cpu-cluster", "computeType": "AmlCompute",
         "vmSize": "STANDARD_DS3_V2", "vmPriority": "Dedicated", "minNodeCount": 0, "maxNodeCount": 4,
         "idleSeconds": 120.0},
        {"workspace": "proj-chat", "name": "alice-ci", "computeType": "ComputeInstance", "vmSize": "STANDARD_DS3_V2"},
    ],
    "datastores": [
        {"workspace": "hub-contoso-eastus", "name": "workspaceblobstore", "datastoreType": "AzureBlob",
         "accountName": "stfdreastus", "containerName": "azureml-blobstore-x", "credentialsType": "AccountKey"},
        {"workspace": "hub-contoso-eastus", "name": "trainingdata", "datastoreType": "AzureBlob",
         "accountName": "stfdreastusdata", "containerName": "training-data", "endpoint": "core.windows.net",
         "protocol": "https", "description": "Curated", "credentialsType": "AccountKey"},
    ],
    "connections": [
        {"workspace": "hub-contoso-eastus", "name": "aoai-eastus", "category": "AzureOpenAI",
         "target": "https://ais-contoso-eastus.openai.azure.com/", "authType": "ApiKey",
         "metadata": {"ApiType": "Azure"}},
    ],
    "linked": {
        "storage_accounts": {"stfdreastus": {"sku": {"name": "Standard_RAGRS"}, "kind": "StorageV2"},
                             "stfdreastusdata": {"sku": {"name": "Standard_RAGRS"}, "kind": "StorageV2"}},
        "application_insights": {"name": "appi-contoso-eastus", "kind": "web", "applicationType": "web"},
        "ai_services": {"name": "ais-contoso-eastus", "kind": "AIServices", "sku": {"name": "S0"}},
    },
    "other_projects": [],
}  # fmt: skip


def primary() -> dict[str, Any]:
    return copy.deepcopy(PRIMARY)


def aad_connection(name: str = "search-eastus") -> dict[str, Any]:
    return {"workspace": "hub-contoso-eastus", "name": name, "category": "CognitiveSearch",
            "target": "https://search-eastus.search.windows.net", "authType": "AAD", "metadata": {}}
