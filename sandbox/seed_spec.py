"""What the sandbox seed puts in the primary region, as data (``sandbox/seed.py`` applies it).

The names come from the plan (``deployments/plans/sandbox.yaml``: resource group, storage
accounts, Key Vault, ACR, hub, projects, connections); everything else (bodies, asset versions,
the traffic split, jobs, blobs) is fixed here. :func:`build` lays the seed out as an ordered list
of steps, each a small frozen dataclass; tests import the constants and body builders instead of
copying request bodies.

Per project (model ``churn-classifier`` in ``*chat`` projects, ``defect-detector`` elsewhere):
``2 + scale`` model versions (version 1 archived), two data versions, an environment per image
tag (images in the ACR), a component, the ``cpu-cluster`` compute, an online endpoint with
blue (latest model) / green (the version before) at 90/10, a batch endpoint with one deployment,
four jobs (two held Running) and a nightly schedule. Blobs: ``40 * scale`` files with nested
paths, metadata and content types in the hub's default datastore and in the extra account's
``training-data`` container; in each project's own default datastore, one file under each model
and data version's path, uploaded before the versions (:class:`AssetBlobs`).

Where this comes from: it is test data -- the hub a customer's team would have built -- not
emulated Azure behaviour. Each body is a *request* a customer sends, shaped after the official
create example of its operation in ``Azure/azure-rest-api-specs`` (cited at each builder), and
the sandbox's ARM contract check (``arm/core/contract.py``) accepts or refuses it as ARM would;
what Azure does in answer (defaults, read-only properties, the workspace's default datastore)
is the providers' job, with their own citations.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundry_dr.plan import Plan
from foundry_dr_sandbox.config import SandboxConfig

PLAN_PATH = Path(__file__).resolve().parents[1] / "deployments" / "plans" / "sandbox.yaml"
ARM_API = "2024-04-01"

# ---- fixed content ---------------------------------------------------------------------------
IMAGES = {"sklearn": ["1.4", "1.5"], "vision-serving": ["2.0"], "batch-runner": ["0.9"]}
API_VERSIONS = {
    "storage": "2023-05-01",
    "keyvault": "2023-07-01",
    "registry": "2023-07-01",
    "logs": "2023-09-01",
    "insights": "2020-02-02",
    "aiservices": "2024-10-01",
    "connection": "2024-04-01-preview",
}
HUB_FRIENDLY_NAME = "Contoso AI hub (eastus)"
HUB_DESCRIPTION = "Production AI Foundry hub"
HUB_TAGS = {"env": "prod", "team": "ml-platform"}
PROJECT_TAGS = {"env": "prod"}
WORKSPACE_SKU = {"name": "Basic", "tier": "Basic"}
EXTRA_DATASTORE = "trainingdata"
EXTRA_CONTAINER = "training-data"

ARCHIVED_MODEL_VERSION = "1"
DATA_NAME = "customers"
DATA_VERSIONS = (1, 2)
COMPUTE_NAME = "cpu-cluster"
COMPUTE = {  # the AmlCompute's own properties
    "vmSize": "STANDARD_DS3_V2",
    "vmPriority": "Dedicated",
    "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
}
TRAFFIC = {"blue": 90, "green": 10}  # blue serves the latest model version, green the one before
DEPLOYMENT_CAPACITY = 2  # the production size
DEPLOYMENT_PROPERTIES = {  # besides the model and environment
    "instanceType": "Standard_DS3_v2",
    "scaleSettings": {"scaleType": "Default"},
    "requestSettings": {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT5S"},
    "environmentVariables": {"LOG_LEVEL": "info"},
}
JOB_HOLDS = ("Running", "Running", None, None)  # one job per entry; a hold keeps it in that state
SCHEDULE_NAME = "nightly-retrain"
SCHEDULE_TRIGGER = {"triggerType": "Cron", "expression": "0 2 * * *", "timeZone": "UTC"}

BLOB_FILES_PER_SCALE = 40
BLOB_RNG_SEED = 42
BLOB_COOL_EVERY = 17  # blob i goes to the Cool tier when i % 17 == 0
BLOB_CACHE_CONTROL = "max-age=3600"
CONTAINER_METADATA = {"owner": "ml-platform"}


# ---- names and bodies (what tests read) ---------------------------------------------------------
def model_name(project: str) -> str:
    return "churn-classifier" if project.endswith("chat") else "defect-detector"


def model_versions(scale: int = 1) -> int:
    """How many versions each project's model has (the last one is blue's, the one before green's)."""
    return 2 + scale


def endpoint_name(project: str) -> str:
    return f"{model_name(project).split('-')[0]}-ep"


def batch_endpoint_name(project: str) -> str:
    return endpoint_name(project).replace("-ep", "-batch")


def environments(login: str) -> list[dict[str, Any]]:
    """One environment version per image tag, in order (the first is what everything runs on)."""
    return [
        {
            "name": f"{image}-env",
            "version": tag.replace(".", "-"),
            "image": f"{login}/{image}:{tag}",
            "description": f"{image} runtime",
            "tags": {"image": f"{image}:{tag}"},
        }
        for image, tags in IMAGES.items()
        for tag in tags
    ]


def image_digest(repository: str, tag: str) -> str:
    return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()


def connection_key(name: str) -> str:
    """The (fake) API key of the seeded connection ``name``."""
    return "sandbox-" + hashlib.sha1(name.encode()).hexdigest()[:24]


def storage_account_body(location: str) -> dict:
    # Shape: specification/storage/resource-manager/Microsoft.Storage/stable/2023-05-01/examples/
    # StorageAccountCreate.json (kind, sku, location; properties may be empty).
    return {"location": location, "kind": "StorageV2", "sku": {"name": "Standard_RAGRS"}, "properties": {}}


def compute_body(location: str) -> dict:
    # Shape: specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/
    # stable/2024-04-01/examples/Compute/createOrUpdate/AmlCompute.json.
    return {"location": location, "properties": {"computeType": "AmlCompute", "properties": _copy(COMPUTE)}}


def online_endpoint_body(location: str, project: str, traffic: dict | None = None) -> dict:
    # Shape: .../Microsoft.MachineLearningServices/stable/2024-04-01/examples/Workspace/OnlineEndpoint/
    # createOrUpdate.json (authMode, traffic, identity, kind).
    properties: dict[str, Any] = {"authMode": "Key", "description": f"Scores {model_name(project)}"}
    if traffic is not None:
        properties["traffic"] = dict(traffic)
    return {
        "location": location,
        "kind": "Managed",
        "identity": {"type": "SystemAssigned"},
        "tags": {"tier": "gold"},
        "properties": properties,
    }


def online_deployment_body(location: str, model_id: str, environment_id: str) -> dict:
    # Shape: .../Microsoft.MachineLearningServices/stable/2024-04-01/examples/OnlineDeployment/
    # ManagedOnlineDeployment/createOrUpdate.json (sku.capacity = instances; endpointComputeType Managed).
    return {
        "location": location,
        "kind": "Managed",
        "sku": {"name": "Default", "capacity": DEPLOYMENT_CAPACITY},
        "properties": {
            "endpointComputeType": "Managed",
            "model": model_id,
            "environmentId": environment_id,
            **_copy(DEPLOYMENT_PROPERTIES),
        },
    }


@dataclass(frozen=True)
class BlobFile:
    name: str
    data: bytes
    content_type: str


def blob_file(i: int, rng: random.Random) -> BlobFile:
    # Test data only: the folder layout mimics what Azure ML writes to a datastore (data assets,
    # model folders, images, run logs); nothing about it is Azure behaviour.
    """Blob number ``i`` of a container; its bytes come from ``rng`` (one per seed, seeded
    with :data:`BLOB_RNG_SEED`, drawn in order over all the containers)."""
    kind = i % 4
    if kind == 0:
        rows = "\n".join(f"{j},{rng.random():.6f},{rng.randint(0, 1)}" for j in range(800))
        return BlobFile(
            f"data/customers/v{1 + i % 2}/part-{i:05d}.csv", ("id,score,label\n" + rows).encode(), "text/csv"
        )
    if kind == 1:
        return BlobFile(
            f"models/churn-classifier/{1 + i % 3}/model-{i}.json",
            json.dumps({"trees": [rng.random() for _ in range(2000)]}).encode(),
            "application/json",
        )
    if kind == 2:
        return BlobFile(f"images/raw/{i // 10}/img-{i:05d}.bin", rng.randbytes(96 * 1024), "application/octet-stream")
    return BlobFile(f"logs/2026/11/{i % 28 + 1:02d}/run-{i}.log", (f"step {i} ok\n" * 3000).encode(), "text/plain")


def project_asset_files(project: str, scale: int = 1) -> tuple[tuple[str, bytes, str], ...]:
    """The blobs behind a project's model versions and data versions (test data: one small file
    each, under the path the version names)."""
    model = model_name(project)
    files = [(f"models/{model}/{v}/model.json", json.dumps({"model": model, "version": v}).encode(),
              "application/json") for v in range(1, model_versions(scale) + 1)]  # fmt: skip
    files += [(f"data/{DATA_NAME}/v{v}/part-00000.csv", f"id,score\n{v},0.{v}\n".encode(), "text/csv")
              for v in DATA_VERSIONS]  # fmt: skip
    return tuple(files)


def blob_metadata(i: int) -> dict[str, str]:
    return {"source": "seed", "index": str(i)}


# ---- the steps ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceGroup:
    name: str
    location: str


@dataclass(frozen=True)
class Arm:
    """An ARM resource, PUT unless it exists. Tallied by its resource type (and ``tally``)."""

    id: str
    body: dict
    api_version: str = ARM_API
    tally: str | None = None


@dataclass(frozen=True)
class Traffic:
    """PUT ``body`` (an online endpoint with its traffic) unless the endpoint's traffic is already it."""

    id: str
    body: dict


@dataclass(frozen=True)
class Repositories:
    """A registry's repositories and tag digests (data plane: the sandbox's control API)."""

    registry: str
    repositories: dict


@dataclass(frozen=True)
class Asset:
    """An asset version through the ML SDK (``kind``: models, data or environments)."""

    project: str
    kind: str
    fields: dict


@dataclass(frozen=True)
class Archive:
    project: str
    name: str
    version: str


@dataclass(frozen=True)
class TallyDatastores:
    """Count the hub's datastores as they are at this point."""


@dataclass(frozen=True)
class Blobs:
    """``files`` blobs (see :func:`blob_file`) in each container; an account of None is the hub's
    default datastore."""

    containers: tuple[tuple[str | None, str | None], ...]
    files: int = BLOB_FILES_PER_SCALE


@dataclass(frozen=True)
class AssetBlobs:
    """The files behind a project's model and data versions, in the project's own default datastore
    (``workspaceblobstore``: its container ``<workspaceId>-azureml-blobstore``), uploaded before the
    versions that point at them (Azure refuses a model version whose path holds no blob)."""

    project: str
    files: tuple[tuple[str, bytes, str], ...]  # (blob name, bytes, content type)


Step = ResourceGroup | Arm | Traffic | Repositories | Asset | Archive | TallyDatastores | Blobs | AssetBlobs


def build(plan: Plan, config: SandboxConfig, scale: int = 1) -> list[Step]:
    """The seed of ``plan``'s primary region, in the order it is applied."""
    p = plan.primary
    loc = p.location
    sub = p.subscription_id
    rg_id = f"/subscriptions/{sub}/resourceGroups/{p.resource_group}"
    kv = plan.shared.key_vault
    kv_id = f"/subscriptions/{sub}/resourceGroups/{kv.resource_group}/providers/Microsoft.KeyVault/vaults/{kv.name}"
    acr = plan.shared.container_registry
    acr_id = (
        f"/subscriptions/{sub}/resourceGroups/{acr.resource_group}/providers/Microsoft.ContainerRegistry/registries/"
        f"{acr.name}"
        if acr is not None
        else None
    )
    appi_id = f"{rg_id}/providers/Microsoft.Insights/components/{p.application_insights}"

    def storage_id(account: str) -> str:
        return f"{rg_id}/providers/Microsoft.Storage/storageAccounts/{account}"

    def ws_id(name: str) -> str:
        return f"{rg_id}/providers/Microsoft.MachineLearningServices/workspaces/{name}"

    steps: list[Step] = [ResourceGroup(p.resource_group, loc)]
    # shared resources
    for account in [p.storage_account, *p.extra_storage_accounts]:
        steps.append(Arm(storage_id(account), storage_account_body(loc), API_VERSIONS["storage"]))
    # Key Vault: the writable part of .../Microsoft.KeyVault/stable/2023-07-01/examples/getVault.json
    # (tenantId, sku family A, enableSoftDelete, enableRbacAuthorization).
    steps.append(
        Arm(
            kv_id,
            {
                "location": loc,
                "properties": {
                    "tenantId": config.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enableSoftDelete": True,
                    "enableRbacAuthorization": True,
                },
            },
            API_VERSIONS["keyvault"],
        )
    )
    if acr is not None and acr_id is not None:
        # ACR: specification/containerregistry/.../stable/2023-07-01/examples/RegistryCreate.json. The
        # repositories are pushed through the sandbox's control API: ACR's data plane (docker push) is
        # not emulated, so this stands in for a team's image pushes (a sandbox mechanism).
        steps.append(
            Arm(
                acr_id,
                {"location": loc, "sku": {"name": acr.sku}, "properties": {"adminUserEnabled": False}},
                API_VERSIONS["registry"],
            )
        )
        repos = {name: {"tags": {tag: image_digest(name, tag) for tag in tags}} for name, tags in IMAGES.items()}
        steps.append(Repositories(acr.name, repos))
    if p.application_insights:
        # Log Analytics: specification/operationalinsights/.../stable/2023-09-01/examples/WorkspacesCreate.json;
        # Application Insights: specification/applicationinsights/.../stable/2020-02-02/examples/
        # ComponentsCreate.json. Workspace-based (WorkspaceResourceId): classic components are retired
        # (learn.microsoft.com, "Migrate to workspace-based Application Insights resources").
        logs = f"{rg_id}/providers/Microsoft.OperationalInsights/workspaces/{p.log_analytics}"
        steps.append(
            Arm(
                logs,
                {"location": loc, "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}},
                API_VERSIONS["logs"],
            )
        )
        steps.append(
            Arm(
                appi_id,
                {
                    "location": loc,
                    "kind": "web",
                    "properties": {"Application_Type": "web", "WorkspaceResourceId": logs},
                },
                API_VERSIONS["insights"],
            )
        )
    if p.ai_services:
        # AI Services: specification/cognitiveservices/.../stable/2024-10-01/examples/CreateAccount.json
        # (kind, sku S0, customSubDomainName).
        steps.append(
            Arm(
                f"{rg_id}/providers/Microsoft.CognitiveServices/accounts/{p.ai_services}",
                {
                    "location": loc,
                    "kind": "AIServices",
                    "sku": {"name": "S0"},
                    "properties": {"customSubDomainName": p.ai_services},
                },
                API_VERSIONS["aiservices"],
            )
        )
        steps += ai_services_steps(f"{rg_id}/providers/Microsoft.CognitiveServices/accounts/{p.ai_services}")

    # the hub, its projects, datastore and connections
    hub_props: dict[str, Any] = {
        "friendlyName": HUB_FRIENDLY_NAME,
        "description": HUB_DESCRIPTION,
        "storageAccount": storage_id(p.storage_account),
        "keyVault": kv_id,
        "publicNetworkAccess": "Enabled",
        "managedNetwork": {"isolationMode": "Disabled"},
    }
    if acr_id is not None:
        hub_props["containerRegistry"] = acr_id
    if p.application_insights:
        hub_props["applicationInsights"] = appi_id
    # Hub and projects: .../Microsoft.MachineLearningServices/stable/2024-04-01/examples/Workspace/create.json
    # (kind Hub / Project with hubResourceId: learn.microsoft.com, "Create a hub using the Azure CLI" /
    # "What is an Azure AI Foundry hub?").
    hub_id = ws_id(p.hub)
    steps.append(
        Arm(
            hub_id,
            {
                "location": loc,
                "kind": "Hub",
                "sku": dict(WORKSPACE_SKU),
                "identity": {"type": "SystemAssigned"},
                "properties": hub_props,
                "tags": dict(HUB_TAGS),
            },
        )
    )
    for project in p.projects:
        steps.append(
            Arm(
                ws_id(project),
                {
                    "location": loc,
                    "kind": "Project",
                    "sku": dict(WORKSPACE_SKU),
                    "identity": {"type": "SystemAssigned"},
                    "properties": {"friendlyName": project, "hubResourceId": hub_id},
                    "tags": dict(PROJECT_TAGS),
                },
            )
        )
    if p.extra_storage_accounts:
        extra = p.extra_storage_accounts[0]
        steps.append(
            Arm(
                # .../stable/2024-04-01/examples/Datastore/AzureBlobWAccountKey/createOrUpdate.json
                f"{hub_id}/datastores/{EXTRA_DATASTORE}",
                {
                    "properties": {
                        "datastoreType": "AzureBlob",
                        "accountName": extra,
                        "containerName": EXTRA_CONTAINER,
                        "endpoint": "core.windows.net",
                        "protocol": "https",
                        "description": "Curated training data",
                        "credentials": {
                            "credentialsType": "AccountKey",
                            "secrets": {"secretsType": "AccountKey", "key": config.storage_accounts[extra].key},
                        },
                    }
                },
            )
        )
    for mapping in plan.connections:
        steps.append(
            Arm(
                f"{hub_id}/connections/{mapping.primary}",
                {
                    "properties": {
                        "category": "AzureOpenAI",
                        "target": f"https://{p.ai_services or 'ais'}.openai.azure.com/",
                        "authType": "ApiKey",
                        "credentials": {"key": connection_key(mapping.primary)},
                        "metadata": {"ApiType": "Azure", "ApiVersion": "2024-02-01"},
                    }
                },
                API_VERSIONS["connection"],
            )
        )
    steps.append(TallyDatastores())

    login = f"{acr.name}.azurecr.io" if acr else "mcr.microsoft.com"
    for project in p.projects:
        steps += _project(project, ws_id(project), loc, login, scale, p.storage_account)

    containers: list[tuple[str | None, str | None]] = [(None, None)]
    if p.extra_storage_accounts:
        containers.append((p.extra_storage_accounts[0], EXTRA_CONTAINER))
    steps.append(Blobs(tuple(containers), BLOB_FILES_PER_SCALE * scale))
    steps += role_assignment_steps(plan)  # issue 18.2, the block at the end of this file
    return steps


def _project(project: str, ws: str, loc: str, login: str, scale: int, account: str) -> list[Step]:
    model = model_name(project)
    versions = model_versions(scale)
    steps: list[Step] = [AssetBlobs(project, project_asset_files(project, scale))]
    steps += [
        Asset(
            project,
            "models",
            {
                "name": model,
                "version": str(v),
                "path": f"azureml://datastores/workspaceblobstore/paths/models/{model}/{v}/",
                "type": "custom_model",
                "description": f"{model} v{v}: gradient boosted trees retrained weekly",
                "tags": {"stage": "production" if v == versions else "candidate", "auc": f"0.{80 + v}"},
                "properties": {"trained_on": f"2026-11-{v:02d}"},
            },
        )
        for v in range(1, versions + 1)
    ]
    steps.append(Archive(project, model, ARCHIVED_MODEL_VERSION))
    steps += [
        Asset(
            project,
            "data",
            {
                "name": DATA_NAME,
                "version": str(v),
                "type": "uri_folder",
                "path": f"azureml://datastores/workspaceblobstore/paths/data/{DATA_NAME}/v{v}/",
                "description": f"Customer snapshot v{v}",
                "tags": {"pii": "masked"},
            },
        )
        for v in DATA_VERSIONS
    ]
    envs = environments(login)
    steps += [Asset(project, "environments", env) for env in envs]
    env = envs[0]
    env_id = f"{ws}/environments/{env['name']}/versions/{env['version']}"
    model_id = f"{ws}/models/{model}/versions/{versions}"
    prev_model_id = f"{ws}/models/{model}/versions/{versions - 1}"
    steps.append(
        Arm(
            f"{ws}/components/train-{model}/versions/1",
            {
                "properties": {
                    "description": f"Train {model}",
                    "tags": {"owner": "ml-platform"},
                    "componentSpec": {
                        "name": f"train-{model}",
                        "version": "1",
                        "type": "command",
                        "command": "python train.py --data ${{inputs.data}}",
                        "environment": f"azureml:{env['name']}:{env['version']}",
                        "inputs": {"data": {"type": "uri_folder"}},
                    },
                }
            },
        )
    )
    compute_id = f"{ws}/computes/{COMPUTE_NAME}"
    steps.append(Arm(compute_id, compute_body(loc)))
    ep_id = f"{ws}/onlineEndpoints/{endpoint_name(project)}"
    steps.append(Arm(ep_id, online_endpoint_body(loc, project)))
    for deployment, mid in (("blue", model_id), ("green", prev_model_id)):
        steps.append(Arm(f"{ep_id}/deployments/{deployment}", online_deployment_body(loc, mid, env_id)))
    steps.append(Traffic(ep_id, online_endpoint_body(loc, project, TRAFFIC)))
    batch_id = f"{ws}/batchEndpoints/{batch_endpoint_name(project)}"
    steps.append(
        Arm(batch_id, {"location": loc, "properties": {"authMode": "AADToken", "description": "Nightly batch scoring"}})
    )
    steps.append(
        Arm(
            f"{batch_id}/deployments/default",
            {
                "location": loc,
                "properties": {
                    "model": {"referenceType": "Id", "assetId": model_id},
                    "compute": compute_id,
                    "environmentId": env_id,
                    "maxConcurrencyPerInstance": 2,
                    "miniBatchSize": 10,
                },
            },
        )
    )
    # The training code, as a code version (what the SDK registers for ``code=./src``; shape:
    # .../stable/2024-04-01/examples/Workspace/CodeVersion/createOrUpdate.json). Its snapshot
    # blobs are not seeded: nothing in the sandbox reads them yet.
    code_id = f"{ws}/codes/train-{model}/versions/1"
    steps.append(Arm(code_id, {"properties": {
        "description": f"Training code of {model}",
        "codeUri": f"https://{account}.blob.core.windows.net/snapshots/LocalUpload/train-{model}/src",
    }}))  # fmt: skip
    # A command job as the SDK submits one (.../examples/Job/CommandJob/createOrUpdate.json): code,
    # a data-asset input and a literal one, environment variables, distribution, resources.
    job_def = {
        "jobType": "Command",
        "command": "python train.py --data ${{inputs.data}} --epochs ${{inputs.epochs}}",
        "codeId": code_id,
        "environmentId": env_id,
        "computeId": compute_id,
        "experimentName": f"{model}-training",
        "inputs": {
            "data": {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                     "uri": f"azureml:{ws}/data/{DATA_NAME}/versions/{DATA_VERSIONS[-1]}"},
            "epochs": {"jobInputType": "literal", "value": "10"},
        },
        "environmentVariables": {"LOG_LEVEL": "info"},
        "distribution": {"distributionType": "PyTorch", "processCountPerInstance": 1},
        "resources": {"instanceCount": 1},
    }  # fmt: skip
    for i, hold in enumerate(JOB_HOLDS):
        props: dict[str, Any] = dict(job_def, displayName=f"train-{model}-{i}", tags={"attempt": str(i)})
        if hold:
            props["properties"] = {"sandbox.hold": hold}
        steps.append(Arm(f"{ws}/jobs/{model}-job-{i}", {"properties": props}, tally="jobs"))
    steps.append(
        Arm(
            f"{ws}/schedules/{SCHEDULE_NAME}",
            {
                "properties": {
                    "displayName": "Nightly retrain",
                    "isEnabled": True,
                    "trigger": dict(SCHEDULE_TRIGGER),
                    "action": {"actionType": "CreateJob", "jobDefinition": job_def},
                }
            },
        )
    )
    return steps


# ---- AI Services: model deployments and content filters (issue 17) ---------------------------------
# What a team serving generative models puts in its AI Services account: a blocklist with items, a
# custom content filter (RAI policy) using it, and model deployments. Test data; each body is the
# request of the official example it names (specification/cognitiveservices/resource-manager/
# Microsoft.CognitiveServices/stable/2024-10-01/examples/...). gpt-4o 2024-05-13 is not offered in
# westus in the sandbox's catalogue (arm/providers/misc/cognitiveservices_models.py): the plan maps
# it to 2024-08-06 there (deployments/plans/sandbox.yaml, model_deployments).
AI_BLOCKLIST = "contoso-blocked-terms"
AI_BLOCKLIST_ITEMS = {  # item name -> (pattern, isRegex)
    "project-falcon": ("Project Falcon", False),
    "internal-ticket": (r"INC-[0-9]{6}", True),
}
AI_POLICY = "contoso-strict"
# name -> (format, model, version, sku, capacity, raiPolicyName, versionUpgradeOption)
AI_DEPLOYMENTS = {
    "chat": ("OpenAI", "gpt-4o", "2024-05-13", "GlobalStandard", 50, AI_POLICY, "NoAutoUpgrade"),
    "embeddings": ("OpenAI", "text-embedding-3-large", "1", "Standard", 120, "Microsoft.DefaultV2",
                   "OnceNewDefaultVersionAvailable"),
}  # fmt: skip


@dataclass(frozen=True)
class AiServicesResource:
    """A child of the AI Services account (deployment, RAI policy, blocklist, item): PUT unless it
    exists, tallied under ``tally`` (sandbox/seed.py ``_Applier.AiServicesResource``)."""

    id: str
    body: dict
    tally: str
    api_version: str = API_VERSIONS["aiservices"]


Step = Step | AiServicesResource  # type: ignore[misc]  # the seed's step types, with this block's


def rai_blocklist_body() -> dict:
    # examples/PutRaiBlocklist.json (properties.description)
    return {"properties": {"description": "Internal code names and ticket numbers"}}


def rai_blocklist_item_body(pattern: str, is_regex: bool) -> dict:
    # examples/PutRaiBlocklistItem.json (properties.pattern, isRegex)
    return {"properties": {"pattern": pattern, "isRegex": is_regex}}


def rai_policy_body() -> dict:
    # examples/PutRaiPolicy.json (basePolicyName, mode, contentFilters per category and source); stricter
    # than the example's thresholds, plus customBlocklists (CustomBlocklistConfig: blocklistName, blocking,
    # source) naming the seeded blocklist
    filters = [
        {"name": category, "blocking": True, "enabled": True, "severityThreshold": "Low", "source": source}
        for category in ("hate", "sexual", "selfharm", "violence")
        for source in ("Prompt", "Completion")
    ]
    filters += [
        {"name": "jailbreak", "blocking": True, "source": "Prompt", "enabled": True},
        {"name": "protected_material_code", "blocking": True, "source": "Completion", "enabled": True},
    ]
    return {
        "properties": {
            "basePolicyName": "Microsoft.DefaultV2",
            "mode": "Blocking",
            "contentFilters": filters,
            "customBlocklists": [
                {"blocklistName": AI_BLOCKLIST, "blocking": True, "source": source}
                for source in ("Prompt", "Completion")
            ],
        }
    }


def ai_deployment_body(name: str) -> dict:
    # examples/PutDeployment.json (sku name + capacity, properties.model format/name/version); raiPolicyName
    # and versionUpgradeOption are DeploymentProperties of the same api-version
    fmt, model, version, sku, capacity, policy, upgrade = AI_DEPLOYMENTS[name]
    return {
        "sku": {"name": sku, "capacity": capacity},
        "properties": {
            "model": {"format": fmt, "name": model, "version": version},
            "raiPolicyName": policy,
            "versionUpgradeOption": upgrade,
        },
    }


def ai_services_steps(account_id: str) -> list[AiServicesResource]:
    """Blocklist and items first, then the policy naming them, then the deployments naming the policy."""
    blocklist = f"{account_id}/raiBlocklists/{AI_BLOCKLIST}"
    steps = [AiServicesResource(blocklist, rai_blocklist_body(), "rai blocklists")]
    steps += [
        AiServicesResource(f"{blocklist}/raiBlocklistItems/{item}", rai_blocklist_item_body(*item_spec),
                           "rai blocklist items")
        for item, item_spec in AI_BLOCKLIST_ITEMS.items()
    ]
    steps.append(AiServicesResource(f"{account_id}/raiPolicies/{AI_POLICY}", rai_policy_body(), "rai policies"))
    steps += [
        AiServicesResource(f"{account_id}/deployments/{name}", ai_deployment_body(name), "model deployments")
        for name in AI_DEPLOYMENTS
    ]
    return steps


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


# ---- Role assignments on the primary's scopes (issue 18.2) ---------------------------------------------
# Who a team grants what on its hub: users, a group and a CI service principal with built-in roles
# (learn.microsoft.com, "Azure built-in roles": the ids are the same everywhere), and a custom role
# assignable only in the primary's resource group, so the secondary cannot use it as it is. Bodies are
# the requests of examples/RoleAssignments_CreateForResource.json and examples/PutRoleDefinition.json
# (specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01).
AUTH_API = "2022-04-01"
RBAC_PRINCIPALS = {  # name -> (object id, principal type); test data
    "alice": ("0a11ce00-0000-4000-8000-00000000a11c", "User"),
    "data-team": ("0da7a000-0000-4000-8000-0000000da7a0", "Group"),
    "ci-deployer": ("0c1de000-0000-4000-8000-000000000c1d", "ServicePrincipal"),
}
CUSTOM_ROLE_ID = "f0d2c0de-0000-4000-8000-0000000f0d2c"
CUSTOM_ROLE_NAME = "Foundry Endpoint Operator"
CUSTOM_ROLE_PERMISSIONS = [{
    "actions": ["Microsoft.MachineLearningServices/workspaces/onlineEndpoints/*",
                "Microsoft.MachineLearningServices/workspaces/read"],
    "notActions": [], "dataActions": [], "notDataActions": [],
}]  # fmt: skip
# (scope kind, role id or CUSTOM_ROLE_ID, principal): scope kinds as in foundry_dr/role_assignments.py
RBAC_ASSIGNMENTS = [
    ("hub", "f6c7c914-8db3-469d-8ca1-694a8f32e121", "alice"),  # AzureML Data Scientist
    ("project:0", "b24988ac-6180-42a0-ab88-20f7382dd24c", "ci-deployer"),  # Contributor
    ("project:1", CUSTOM_ROLE_ID, "data-team"),
    ("storage:extra", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "data-team"),  # Storage Blob Data Reader
    ("vault", "4633458b-17de-408a-b874-0445c86b69e6", "alice"),  # Key Vault Secrets User
    ("ai_services", "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd", "alice"),  # Cognitive Services OpenAI User
]


def rbac_assignment_name(scope: str, role: str, principal: str) -> str:
    """A fixed name per seeded assignment (not the product's uuid5 scheme: a team's own names)."""
    return str(uuid.UUID(hashlib.sha256(f"seed|{scope}|{role}|{principal}".lower().encode()).hexdigest()[:32]))


def rbac_scopes(plan: Plan) -> dict[str, str]:
    p = plan.primary
    rg_id = f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}"
    kv = plan.shared.key_vault
    out = {"hub": f"{rg_id}/providers/Microsoft.MachineLearningServices/workspaces/{p.hub}",
           "vault": f"/subscriptions/{kv.subscription_id or p.subscription_id}/resourceGroups/{kv.resource_group}"
                    f"/providers/Microsoft.KeyVault/vaults/{kv.name}"}  # fmt: skip
    for i, project in enumerate(p.projects):
        out[f"project:{i}"] = f"{rg_id}/providers/Microsoft.MachineLearningServices/workspaces/{project}"
    if p.extra_storage_accounts:
        out["storage:extra"] = f"{rg_id}/providers/Microsoft.Storage/storageAccounts/{p.extra_storage_accounts[0]}"
    if p.ai_services:
        out["ai_services"] = f"{rg_id}/providers/Microsoft.CognitiveServices/accounts/{p.ai_services}"
    return out


def role_assignment_steps(plan: Plan) -> list[Arm]:
    """The custom role (assignable in the primary's resource group only), then the assignments."""
    p = plan.primary
    rg_id = f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}"
    steps = [Arm(f"{rg_id}/providers/Microsoft.Authorization/roleDefinitions/{CUSTOM_ROLE_ID}", {"properties": {
        "roleName": CUSTOM_ROLE_NAME, "description": "Operates online endpoints of the hub's projects",
        "type": "CustomRole", "assignableScopes": [rg_id], "permissions": CUSTOM_ROLE_PERMISSIONS,
    }}, AUTH_API, "custom roles")]  # fmt: skip
    scopes = rbac_scopes(plan)
    for kind, role, who in RBAC_ASSIGNMENTS:
        if kind not in scopes:
            continue
        scope = scopes[kind]
        principal, ptype = RBAC_PRINCIPALS[who]
        name = rbac_assignment_name(scope, role, principal)
        steps.append(Arm(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", {"properties": {
            "roleDefinitionId": f"/subscriptions/{p.subscription_id}/providers/Microsoft.Authorization/"
                                f"roleDefinitions/{role}",
            "principalId": principal, "principalType": ptype,
        }}, AUTH_API, "role assignments"))  # fmt: skip
    return steps
