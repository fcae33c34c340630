"""Wire shapes of Microsoft.MachineLearningServices: the defaults the RP adds to what it stores.

The RP answers with more than the request carried (``flavors: {}``, probes, request settings,
``services`` of a job, ...) and azure-ai-ml reads several of those fields without checks while
building its entities. The defaults below follow the official REST API examples
(``specification/machinelearningservices/resource-manager/.../2024-04-01/examples``).
Everything here is pure: a function takes a stored document and returns the view.
"""

from __future__ import annotations

import copy
from typing import Any

ASSET_KINDS = ("models", "data", "environments", "components", "codes")


def _merge(defaults: dict, given: dict | None) -> dict:
    """Defaults under the given values (one level deep for nested objects the RP completes)."""
    out = copy.deepcopy(defaults)
    for k, v in (given or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and out[k]:
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


# ---- workspaces ---------------------------------------------------------------------------
def workspace_properties(
    ws_id: str, region: str, name: str, workspace_id: str, tenant_id: str, kind: str, given: dict
) -> dict:
    """Properties of a workspace as the RP returns them (hub, project or default)."""
    sub = ws_id.split("/")[2]
    rg = ws_id.split("/")[4]
    rg_prefix = f"/subscriptions/{sub}/resourceGroups/{rg}/providers"
    short = "".join(c for c in name.lower() if c.isalnum())[:16] or "ws"
    defaults: dict[str, Any] = {
        "friendlyName": name,
        "description": "",
        "storageAccount": f"{rg_prefix}/Microsoft.Storage/storageAccounts/st{short}",
        "keyVault": f"{rg_prefix}/Microsoft.KeyVault/vaults/kv{short}",
        "applicationInsights": f"{rg_prefix}/Microsoft.Insights/components/ai{short}",
        "containerRegistry": None,
        "workspaceId": workspace_id,
        "discoveryUrl": f"https://{region}.api.azureml.ms/discovery",
        "mlFlowTrackingUri": f"azureml://{region}.api.azureml.ms/mlflow/v1.0{ws_id}",
        "hbiWorkspace": False,
        "allowPublicAccessWhenBehindVnet": False,
        "publicNetworkAccess": "Enabled",
        "imageBuildCompute": None,
        "privateEndpointConnections": [],
        "privateLinkCount": 0,
        "sharedPrivateLinkResources": [],
        "notebookInfo": None,
        "serviceProvisionedResourceGroup": f"azureml-rg-{name}_{workspace_id[:8]}",
        "storageHnsEnabled": False,
        "tenantId": tenant_id,
        "v1LegacyMode": False,
        "enableDataIsolation": kind == "Hub",
        "systemDatastoresAuthMode": "accesskey",
        "managedNetwork": {
            "isolationMode": "Disabled",
            "outboundRules": {},
            "status": {"status": "Inactive", "sparkReady": False},
        },
    }
    if kind == "Hub":
        defaults["workspaceHubConfig"] = {
            "additionalWorkspaceStorageAccounts": [],
            "defaultWorkspaceResourceGroup": f"/subscriptions/{sub}/resourceGroups/{rg}",
        }
        defaults["associatedWorkspaces"] = []
    props = _merge(defaults, given)
    props["workspaceId"] = workspace_id
    return props


def workspace_identity(given: dict | None, principal_id: str, tenant_id: str) -> dict:
    identity = dict(given or {"type": "SystemAssigned"})
    if "SystemAssigned" in str(identity.get("type", "")):
        identity.update(principalId=principal_id, tenantId=tenant_id)
    return identity


# ---- assets -------------------------------------------------------------------------------
_VERSION_DEFAULTS: dict[str, dict] = {
    "models": {
        "flavors": {},
        "jobName": None,
        "modelType": "custom_model",
        "stage": "Development",
        "intellectualProperty": None,
        "datasets": [],
    },
    "data": {"dataType": "uri_folder", "referencedUris": None},
    "environments": {
        "autoRebuild": "Disabled",
        "osType": "Linux",
        "environmentType": "UserCreated",
        "inferenceConfig": None,
        "build": None,
        "condaFile": None,
        "image": None,
        "stage": "Development",
        "intellectualProperty": None,
    },
    "components": {"componentSpec": {}, "stage": "Development", "intellectualProperty": None},
    "codes": {"codeUri": None},
}


def asset_version_properties(kind: str, given: dict) -> dict:
    base = {
        "description": None,
        "properties": {},
        "tags": {},
        "isAnonymous": False,
        "isArchived": False,
        **_VERSION_DEFAULTS.get(kind, {}),
    }
    props = _merge(base, given)
    if kind == "environments" and props.get("image") is None and props.get("build") is None:
        props["image"] = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"
    return props


def asset_container_properties(given: dict) -> dict:
    base = {
        "description": None,
        "properties": {},
        "tags": {},
        "isArchived": False,
        "latestVersion": None,
        "nextVersion": None,
    }
    return _merge(base, given)


# ---- datastores and connections -----------------------------------------------------------
def datastore_properties(given: dict) -> dict:
    base = {
        "description": None,
        "properties": {},
        "tags": {},
        "isDefault": False,
        "endpoint": "core.windows.net",
        "protocol": "https",
        "serviceDataAccessAuthIdentity": "None",
        "resourceGroup": None,
        "subscriptionId": None,
    }
    props = _merge(base, given)
    creds = props.get("credentials") or {"credentialsType": "None"}
    # secrets are never returned by GET: the credential type survives, and so does the type of
    # the secrets without their value (stable/2024-10-01/examples/Datastore/get.json:
    # "credentials": {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}})
    props["credentials"] = {"credentialsType": creds.get("credentialsType", "None")}
    # (the RP holds the secrets of an AccountKey, Sas, ServicePrincipal or Certificate credential
    # even when it made them itself, as for workspaceblobstore; their secretsType is the same name)
    secrets = creds.get("secrets") if isinstance(creds.get("secrets"), dict) else {}
    kind = secrets.get("secretsType") or (
        creds.get("credentialsType") if creds.get("credentialsType") in _WITH_SECRETS else None)
    if kind:
        props["credentials"]["secrets"] = {"secretsType": kind}
    return props


_WITH_SECRETS = ("AccountKey", "Sas", "ServicePrincipal", "Certificate")


def connection_properties(given: dict) -> dict:
    base = {
        "category": "CustomKeys",
        "target": None,
        "authType": "None",
        "isSharedToAll": False,
        "sharedUserList": [],
        "metadata": {},
        "expiryTime": None,
        "group": "ServicesAndApps",
        "createdByWorkspaceArmId": None,
        "peRequirement": "NotRequired",
        "peStatus": "NotApplicable",
        "useWorkspaceManagedIdentity": False,
        "isSharedToAllBetween": None,
    }
    props = _merge(base, given)
    props.pop("credentials", None)
    props.pop("isSharedToAllBetween", None)
    return props


# ---- computes -----------------------------------------------------------------------------
def compute_properties(given: dict, region: str, created: str, modified: str) -> dict:
    ctype = given.get("computeType", "AmlCompute")
    inner = dict(given.get("properties") or {})
    if ctype == "AmlCompute":
        scale = {
            "minNodeCount": 0,
            "maxNodeCount": 1,
            "nodeIdleTimeBeforeScaleDown": "PT120S",
            **(inner.get("scaleSettings") or {}),
        }
        inner = _merge(
            {
                "osType": "Linux",
                "vmSize": "STANDARD_DS3_V2",
                "vmPriority": "Dedicated",
                "virtualMachineImage": None,
                "isolatedNetwork": False,
                "subnet": None,
                "remoteLoginPortPublicAccess": "Disabled",
                "enableNodePublicIp": True,
                "allocationState": "Steady",
                "allocationStateTransitionTime": modified,
                "errors": None,
                "currentNodeCount": scale["minNodeCount"],
                "targetNodeCount": scale["minNodeCount"],
                "nodeStateCounts": {
                    "idleNodeCount": scale["minNodeCount"],
                    "runningNodeCount": 0,
                    "preparingNodeCount": 0,
                    "unusableNodeCount": 0,
                    "leavingNodeCount": 0,
                    "preemptedNodeCount": 0,
                },
                "propertyBag": None,
                "userAccountCredentials": None,
            },
            inner,
        )
        inner["scaleSettings"] = scale
    elif ctype == "ComputeInstance":
        inner = _merge(
            {
                "vmSize": "STANDARD_DS3_V2",
                "applicationSharingPolicy": "Shared",
                "state": "Running",
                "sshSettings": {"sshPublicAccess": "Disabled", "adminUserName": "azureuser", "sshPort": 4001},
                "connectivityEndpoints": {"publicIpAddress": "10.0.0.4", "privateIpAddress": "10.0.0.4"},
                "applications": [],
                "errors": None,
                "computeInstanceAuthorizationType": "personal",
                "personalComputeInstanceSettings": None,
                "setupScripts": None,
                "lastOperation": None,
                "schedules": {"computeStartStop": []},
                "enableNodePublicIp": True,
                "subnet": None,
                "osImageMetadata": {
                    "currentImageVersion": "24.01.01",
                    "latestImageVersion": "24.01.01",
                    "isLatestOsImageVersion": True,
                },
            },
            inner,
        )
    props = {
        "computeType": ctype,
        "computeLocation": given.get("computeLocation") or region,
        "description": given.get("description"),
        "resourceId": given.get("resourceId"),
        "provisioningErrors": None,
        "isAttachedCompute": False,
        "disableLocalAuth": given.get("disableLocalAuth", True),
        "createdOn": created,
        "modifiedOn": modified,
        "properties": inner,
    }
    return props


def family_usage_name(family: str, tier: str = "Dedicated") -> str:
    """The usages name of a vmSizes family: "standardDSv2Family" -> "Standard DSv2 Family Cluster
    Dedicated vCPUs" (2024-04-01 examples ``Usage/list.json`` and ``VirtualMachineSize/list.json``)."""
    return f"Standard {family.removeprefix('standard').removesuffix('Family')} Family Cluster {tier} vCPUs"


def usage_row(resource_id: str, kind: str, name: str, current: int, limit: int) -> dict:
    """One row of locations/{loc}/usages, shaped as in the 2024-04-01 example ``Usage/list.json``."""
    return {
        "id": resource_id,
        "type": f"Microsoft.MachineLearningServices/{kind}",
        "currentValue": current,
        "limit": limit,
        "name": {"localizedValue": name, "value": name},
        "unit": "Count",
    }


def usage(sub: str, region: str, family: str, current: int, limit: int, kind: str) -> dict:
    """One entry of locations/{loc}/quotas (kind "quotas"; ``usages`` is :func:`usage_row`)."""
    entry = {
        "id": f"/subscriptions/{sub}/providers/Microsoft.MachineLearningServices/vmFamily/{family}/{kind}",
        "amlWorkspaceLocation": region,
        "type": f"Microsoft.MachineLearningServices/vmFamily/{kind}",
        "name": {"value": family, "localizedValue": _localized(family)},
        "limit": limit,
        "unit": "Count",
    }
    if kind == "usages":
        entry["currentValue"] = current
    return entry


def _localized(family: str) -> str:
    if family == "cores":
        return "Total Regional vCPUs"
    return f"Standard {family.removeprefix('standard').removesuffix('Family')} Family vCPUs"


# ---- endpoints and deployments ------------------------------------------------------------
def online_endpoint_properties(given: dict, scoring_uri: str) -> dict:
    base = {
        "authMode": "Key",
        "description": None,
        "properties": {},
        "traffic": {},
        "mirrorTraffic": {},
        "publicNetworkAccess": "Enabled",
        "compute": None,
    }
    props = _merge(base, given)
    props.pop("keys", None)  # keys are set once and only listed through listKeys
    props["scoringUri"] = scoring_uri
    props["swaggerUri"] = scoring_uri.rsplit("/", 1)[0] + "/swagger.json"
    return props


_PROBE = {
    "failureThreshold": 30,
    "successThreshold": 1,
    "timeout": "PT2S",
    "period": "PT10S",
    "initialDelay": "PT10S",
}


def online_deployment_properties(given: dict) -> dict:
    base = {
        "endpointComputeType": "Managed",
        "description": None,
        "properties": {},
        "environmentVariables": {},
        "appInsightsEnabled": False,
        "egressPublicNetworkAccess": "Enabled",
        "instanceType": "Standard_DS3_v2",
        "scaleSettings": {"scaleType": "Default"},
        "requestSettings": {
            "maxConcurrentRequestsPerInstance": 1,
            "requestTimeout": "PT5S",
            "maxQueueWait": "PT0.5S",
        },
        "livenessProbe": dict(_PROBE),
        "readinessProbe": {**_PROBE, "failureThreshold": 30},
        "model": None,
        "environmentId": None,
        "codeConfiguration": None,
        "modelMountPath": None,
        "dataCollector": None,
    }
    return _merge(base, given)


def batch_endpoint_properties(given: dict, scoring_uri: str) -> dict:
    base = {
        "authMode": "AADToken",
        "description": None,
        "properties": {},
        "defaults": {"deploymentName": None},
    }
    props = _merge(base, given)
    props["scoringUri"] = scoring_uri
    props["swaggerUri"] = None
    return props


def batch_deployment_properties(given: dict) -> dict:
    base = {
        "description": None,
        "properties": {},
        "environmentVariables": {},
        "compute": None,
        "codeConfiguration": None,
        "environmentId": None,
        "model": None,
        "resources": {"instanceCount": 1, "properties": {}},
        "maxConcurrencyPerInstance": 1,
        "miniBatchSize": 10,
        "outputAction": "AppendRow",
        "outputFileName": "predictions.csv",
        "retrySettings": {"maxRetries": 3, "timeout": "PT30S"},
        "loggingLevel": "Info",
        "errorThreshold": -1,
    }
    return _merge(base, given)


# ---- jobs and schedules -------------------------------------------------------------------
def job_properties(given: dict, job_id: str, name: str, region: str, status: str) -> dict:
    props = copy.deepcopy(given)
    job_type = props.get("jobType", "Command")
    props.setdefault("displayName", name)
    props.setdefault("experimentName", "Default")
    props.setdefault("description", None)
    props.setdefault("properties", {})
    props.setdefault("tags", {})
    props.setdefault("isArchived", False)
    props.setdefault("computeId", None)
    props.setdefault("inputs", {})
    props.setdefault("outputs", {})
    props.setdefault("notificationSetting", None)
    ws_path = job_id.split("/jobs/")[0]
    props["services"] = {
        "Tracking": {
            "jobServiceType": "Tracking",
            "port": None,
            "status": None,
            "errorMessage": None,
            "properties": None,
            "endpoint": f"azureml://{region}.api.azureml.ms/mlflow/v1.0{ws_path}",
        },
        "Studio": {
            "jobServiceType": "Studio",
            "port": None,
            "status": None,
            "errorMessage": None,
            "properties": None,
            "endpoint": f"https://ml.azure.com/runs/{name}?wsid={ws_path}",
        },
    }
    if job_type == "Command":
        props.setdefault("environmentVariables", {})
        props.setdefault("resources", {"instanceCount": 1, "shmSize": "2g", "properties": {}})
        props.setdefault("limits", None)
        props.setdefault("distribution", None)
        props.setdefault("parameters", {})
        props.setdefault("codeId", None)
        outputs = props["outputs"]
        outputs.setdefault(
            "default",
            {
                "jobOutputType": "uri_folder",
                "mode": "ReadWriteMount",
                "uri": f"azureml://datastores/workspaceartifactstore/ExperimentRun/dcid.{name}",
                "description": None,
            },
        )
    elif job_type == "Pipeline":
        props.setdefault("jobs", {})
        props.setdefault("settings", {})
    props["status"] = status
    return props


def schedule_properties(given: dict) -> dict:
    base = {"description": None, "properties": {}, "tags": {}, "isEnabled": True, "displayName": None}
    return _merge(base, given)
