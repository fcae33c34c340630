"""Seed the sandbox's primary region with a hub that looks like production.

Everything goes through the real SDK clients (MLClient, the management clients, the blob
client) over HTTPS, the way a team would have built its hub, so seeding also exercises
the emulator. Idempotent: a second seed changes nothing that exists.

What it builds (names from ``deployments/plans/sandbox.yaml``): resource group; storage
accounts, shared Key Vault, Premium ACR with repositories, Application Insights and an AI
Services account; the hub and two projects; the default and one extra blob datastore; a
connection to AI Services; in each project: models with several versions, tags and
descriptions (one archived), data assets, environments whose images live in the ACR, a
component, a compute cluster, online endpoints with blue/green deployments and a traffic
split, a batch endpoint, jobs (some Running) and a schedule; and blobs with nested paths,
metadata and content types (a few MB at scale 1, proportional to ``scale``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings, StandardBlobTier

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan, load_plan
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control

PLAN_PATH = Path(__file__).resolve().parents[1] / "deployments" / "plans" / "sandbox.yaml"
ARM_API = "2024-04-01"
IMAGES = {"sklearn": ["1.4", "1.5"], "vision-serving": ["2.0"], "batch-runner": ["0.9"]}
Echo = Callable[[str], None]


def seed(config: SandboxConfig, scale: int = 1, echo: Echo = print, plan: Plan | None = None) -> dict:
    """Build the primary hub; returns counts of what exists afterwards."""
    plan = plan or load_plan(PLAN_PATH)
    factory = ClientFactory(plan, sandbox_env=config.env())
    try:
        return _Seeder(config, plan, factory, scale, echo).run()
    finally:
        factory.close()


class _Seeder:
    def __init__(self, config: SandboxConfig, plan: Plan, factory: ClientFactory, scale: int, echo: Echo) -> None:
        self.config = config
        self.plan = plan
        self.factory = factory
        self.scale = scale
        self.echo = echo
        self.p = plan.primary
        self.sub = self.p.subscription_id
        self.rg_id = f"/subscriptions/{self.sub}/resourceGroups/{self.p.resource_group}"
        self.resources = factory.resource_client(self.sub)
        self.rng = random.Random(42)
        self.counts: dict[str, int] = {}

    # ---- helpers -----------------------------------------------------------------------------
    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def _arm_put(self, resource_id: str, body: dict, api_version: str = ARM_API) -> dict:
        """PUT through the generic-resource operations of the real management SDK."""
        poller = self.resources.resources.begin_create_or_update_by_id(resource_id, body, api_version=api_version)
        return poller.result().as_dict()

    def _arm_exists(self, resource_id: str, api_version: str = ARM_API) -> bool:
        try:
            self.resources.resources.get_by_id(resource_id, api_version=api_version)
            return True
        except ResourceNotFoundError:
            return False

    def _ensure(self, resource_id: str, body: dict, api_version: str = ARM_API) -> None:
        if not self._arm_exists(resource_id, api_version):
            self._arm_put(resource_id, body, api_version)
        self._count(resource_id.split("/providers/")[-1].split("/")[1] if "/providers/" in resource_id else "rg")

    # ---- steps -------------------------------------------------------------------------------
    def run(self) -> dict:
        self.echo(f"seeding {self.p.hub} in {self.p.location} (scale {self.scale})")
        self.resources.resource_groups.create_or_update(self.p.resource_group, {"location": self.p.location})
        self.shared_resources()
        self.workspaces()
        for project in self.p.projects:
            self.project_assets(project)
        self.blobs()
        self.echo("seeded: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())))
        return dict(self.counts)

    def shared_resources(self) -> None:
        loc = self.p.location
        for account in [self.p.storage_account, *self.p.extra_storage_accounts]:
            self._ensure(
                f"{self.rg_id}/providers/Microsoft.Storage/storageAccounts/{account}",
                {"location": loc, "kind": "StorageV2", "sku": {"name": "Standard_RAGRS"}, "properties": {}},
                "2023-05-01",
            )
        kv = self.plan.shared.key_vault
        self._ensure(
            f"/subscriptions/{self.sub}/resourceGroups/{kv.resource_group}/providers/Microsoft.KeyVault/vaults/"
            f"{kv.name}",
            {
                "location": loc,
                "properties": {
                    "tenantId": self.config.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enableSoftDelete": True,
                    "enableRbacAuthorization": True,
                },
            },
            "2023-07-01",
        )
        acr = self.plan.shared.container_registry
        if acr is not None:
            acr_id = (
                f"/subscriptions/{self.sub}/resourceGroups/{acr.resource_group}/providers/"
                f"Microsoft.ContainerRegistry/registries/{acr.name}"
            )
            self._ensure(
                acr_id,
                {"location": loc, "sku": {"name": acr.sku}, "properties": {"adminUserEnabled": False}},
                "2023-07-01",
            )
            repos = {
                name: {"tags": {tag: "sha256:" + hashlib.sha256(f"{name}:{tag}".encode()).hexdigest() for tag in tags}}
                for name, tags in IMAGES.items()
            }
            Control(self.config).request("PUT", f"/registries/{acr.name}/repositories", {"repositories": repos})
        if self.p.application_insights:
            logs = f"{self.rg_id}/providers/Microsoft.OperationalInsights/workspaces/{self.p.log_analytics}"
            self._ensure(logs, {"location": loc, "properties": {"sku": {"name": "PerGB2018"}, "retentionInDays": 30}},
                         "2023-09-01")  # fmt: skip
            self._ensure(
                f"{self.rg_id}/providers/Microsoft.Insights/components/{self.p.application_insights}",
                {"location": loc, "kind": "web",
                 "properties": {"Application_Type": "web", "WorkspaceResourceId": logs}},
                "2020-02-02",
            )  # fmt: skip
        if self.p.ai_services:
            self._ensure(
                f"{self.rg_id}/providers/Microsoft.CognitiveServices/accounts/{self.p.ai_services}",
                {
                    "location": loc,
                    "kind": "AIServices",
                    "sku": {"name": "S0"},
                    "properties": {"customSubDomainName": self.p.ai_services},
                },
                "2024-10-01",
            )

    def ws_id(self, name: str) -> str:
        return f"{self.rg_id}/providers/Microsoft.MachineLearningServices/workspaces/{name}"

    def workspaces(self) -> None:
        loc = self.p.location
        kv = self.plan.shared.key_vault
        acr = self.plan.shared.container_registry
        hub_props: dict[str, Any] = {
            "friendlyName": "Contoso AI hub (eastus)",
            "description": "Production AI Foundry hub",
            "storageAccount": f"{self.rg_id}/providers/Microsoft.Storage/storageAccounts/{self.p.storage_account}",
            "keyVault": f"/subscriptions/{self.sub}/resourceGroups/{kv.resource_group}/providers/"
            f"Microsoft.KeyVault/vaults/{kv.name}",
            "publicNetworkAccess": "Enabled",
            "managedNetwork": {"isolationMode": "Disabled"},
        }
        if acr is not None:
            hub_props["containerRegistry"] = (
                f"/subscriptions/{self.sub}/resourceGroups/{acr.resource_group}/"
                f"providers/Microsoft.ContainerRegistry/registries/{acr.name}"
            )
        if self.p.application_insights:
            hub_props["applicationInsights"] = (
                f"{self.rg_id}/providers/Microsoft.Insights/components/{self.p.application_insights}"
            )
        self._ensure(
            self.ws_id(self.p.hub),
            {
                "location": loc,
                "kind": "Hub",
                "sku": {"name": "Basic", "tier": "Basic"},
                "identity": {"type": "SystemAssigned"},
                "properties": hub_props,
                "tags": {"env": "prod", "team": "ml-platform"},
            },
        )
        for project in self.p.projects:
            self._ensure(
                self.ws_id(project),
                {
                    "location": loc,
                    "kind": "Project",
                    "sku": {"name": "Basic", "tier": "Basic"},
                    "identity": {"type": "SystemAssigned"},
                    "properties": {"friendlyName": project, "hubResourceId": self.ws_id(self.p.hub)},
                    "tags": {"env": "prod"},
                },
            )
        hub = self.factory.ml_client("primary")
        extra = self.p.extra_storage_accounts[0] if self.p.extra_storage_accounts else None
        if extra:
            self._ensure(
                f"{self.ws_id(self.p.hub)}/datastores/trainingdata",
                {
                    "properties": {
                        "datastoreType": "AzureBlob",
                        "accountName": extra,
                        "containerName": "training-data",
                        "endpoint": "core.windows.net",
                        "protocol": "https",
                        "description": "Curated training data",
                        "credentials": {
                            "credentialsType": "AccountKey",
                            "secrets": {"secretsType": "AccountKey", "key": self.config.storage_accounts[extra].key},
                        },
                    }
                },
            )
        for mapping in self.plan.connections:
            self._ensure(
                f"{self.ws_id(self.p.hub)}/connections/{mapping.primary}",
                {
                    "properties": {
                        "category": "AzureOpenAI",
                        "target": f"https://{self.p.ai_services or 'ais'}.openai.azure.com/",
                        "authType": "ApiKey",
                        "credentials": {"key": "sandbox-" + hashlib.sha1(mapping.primary.encode()).hexdigest()[:24]},
                        "metadata": {"ApiType": "Azure", "ApiVersion": "2024-02-01"},
                    }
                },
                "2024-04-01-preview",
            )
        self._count("datastores", len(list(hub.datastores.list())))

    def project_assets(self, project: str) -> None:
        from azure.ai.ml.entities import Data, Environment, Model

        ml = self.factory.ml_client("primary", project)
        ws = self.ws_id(project)
        loc = self.p.location
        acr = self.plan.shared.container_registry
        login = f"{acr.name}.azurecr.io" if acr else "mcr.microsoft.com"
        model_name = "churn-classifier" if project.endswith("chat") else "defect-detector"
        versions = 2 + self.scale
        for v in range(1, versions + 1):
            m = Model(
                name=model_name,
                version=str(v),
                path=f"azureml://datastores/workspaceblobstore/paths/models/{model_name}/{v}/",
                type="custom_model",
                description=f"{model_name} v{v}: gradient boosted trees retrained weekly",
                tags={"stage": "production" if v == versions else "candidate", "auc": f"0.{80 + v}"},
                properties={"trained_on": f"2026-11-{v:02d}"},
            )
            _idempotent(lambda m=m: ml.models.create_or_update(m))
            self._count("model versions")
        _idempotent(lambda: ml.models.archive(name=model_name, version="1"))
        for v in (1, 2):
            d = Data(
                name="customers",
                version=str(v),
                type="uri_folder",
                path=f"azureml://datastores/workspaceblobstore/paths/data/customers/v{v}/",
                description=f"Customer snapshot v{v}",
                tags={"pii": "masked"},
            )
            _idempotent(lambda d=d: ml.data.create_or_update(d))
            self._count("data versions")
        env_names = []
        for image, tags in IMAGES.items():
            for tag in tags:
                env = Environment(
                    name=f"{image}-env",
                    version=tag.replace(".", "-"),
                    image=f"{login}/{image}:{tag}",
                    description=f"{image} runtime",
                    tags={"image": f"{image}:{tag}"},
                )
                _idempotent(lambda env=env: ml.environments.create_or_update(env))
                env_names.append((env.name, env.version))
                self._count("environment versions")
        env_id = f"{ws}/environments/{env_names[0][0]}/versions/{env_names[0][1]}"
        model_id = f"{ws}/models/{model_name}/versions/{versions}"
        prev_model_id = f"{ws}/models/{model_name}/versions/{versions - 1}"
        self._ensure(
            f"{ws}/components/train-{model_name}/versions/1",
            {
                "properties": {
                    "description": f"Train {model_name}",
                    "tags": {"owner": "ml-platform"},
                    "componentSpec": {
                        "name": f"train-{model_name}",
                        "version": "1",
                        "type": "command",
                        "command": "python train.py --data ${{inputs.data}}",
                        "environment": f"azureml:{env_names[0][0]}:{env_names[0][1]}",
                        "inputs": {"data": {"type": "uri_folder"}},
                    },
                }
            },
        )
        compute_id = f"{ws}/computes/cpu-cluster"
        self._ensure(
            compute_id,
            {
                "location": loc,
                "properties": {
                    "computeType": "AmlCompute",
                    "properties": {
                        "vmSize": "STANDARD_DS3_V2",
                        "vmPriority": "Dedicated",
                        "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4},
                    },
                },
            },
        )
        endpoint = f"{model_name.split('-')[0]}-ep"
        ep_id = f"{ws}/onlineEndpoints/{endpoint}"
        self._ensure(
            ep_id,
            {
                "location": loc,
                "kind": "Managed",
                "identity": {"type": "SystemAssigned"},
                "tags": {"tier": "gold"},
                "properties": {"authMode": "Key", "description": f"Scores {model_name}"},
            },
        )
        split = {"blue": 90, "green": 10}
        for deployment, mid in (("blue", model_id), ("green", prev_model_id)):
            self._ensure(
                f"{ep_id}/deployments/{deployment}",
                {
                    "location": loc,
                    "kind": "Managed",
                    "sku": {"name": "Default", "capacity": 2},
                    "properties": {
                        "endpointComputeType": "Managed",
                        "model": mid,
                        "environmentId": env_id,
                        "instanceType": "Standard_DS3_v2",
                        "scaleSettings": {"scaleType": "Default"},
                        "requestSettings": {"maxConcurrentRequestsPerInstance": 1, "requestTimeout": "PT5S"},
                        "environmentVariables": {"LOG_LEVEL": "info"},
                    },
                },
            )
        current = self.resources.resources.get_by_id(ep_id, api_version=ARM_API).as_dict()
        if current.get("properties", {}).get("traffic") != split:
            body = {
                "location": loc,
                "kind": "Managed",
                "identity": {"type": "SystemAssigned"},
                "tags": {"tier": "gold"},
                "properties": {"authMode": "Key", "description": f"Scores {model_name}", "traffic": split},
            }
            self._arm_put(ep_id, body)
        batch_id = f"{ws}/batchEndpoints/{endpoint.replace('-ep', '-batch')}"
        self._ensure(
            batch_id, {"location": loc, "properties": {"authMode": "AADToken", "description": "Nightly batch scoring"}}
        )
        self._ensure(
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
        job_def = {
            "jobType": "Command",
            "command": "python train.py",
            "environmentId": env_id,
            "computeId": compute_id,
            "experimentName": f"{model_name}-training",
        }
        for i, hold in enumerate(["Running", "Running", None, None]):
            props = dict(job_def, displayName=f"train-{model_name}-{i}", tags={"attempt": str(i)})
            if hold:
                props["properties"] = {"sandbox.hold": hold}
            self._ensure(f"{ws}/jobs/{model_name}-job-{i}", {"properties": props})
            self._count("jobs")
        self._ensure(
            f"{ws}/schedules/nightly-retrain",
            {
                "properties": {
                    "displayName": "Nightly retrain",
                    "isEnabled": True,
                    "trigger": {"triggerType": "Cron", "expression": "0 2 * * *", "timeZone": "UTC"},
                    "action": {"actionType": "CreateJob", "jobDefinition": job_def},
                }
            },
        )

    def blobs(self) -> None:
        hub = self.factory.ml_client("primary")
        default_store = hub.datastores.get_default()
        targets = [(default_store.account_name, default_store.container_name)]
        if self.p.extra_storage_accounts:
            targets.append((self.p.extra_storage_accounts[0], "training-data"))
        files = 40 * self.scale
        for account, container in targets:
            service = self.factory.blob_service(account)
            cc = service.get_container_client(container)
            try:
                cc.create_container(metadata={"owner": "ml-platform"})
            except ResourceExistsError:
                pass
            for i in range(files):
                name, data, ctype = self._blob(i)
                blob = cc.get_blob_client(name)
                try:
                    blob.get_blob_properties()
                    continue
                except ResourceNotFoundError:
                    pass
                blob.upload_blob(
                    data,
                    overwrite=False,
                    metadata={"source": "seed", "index": str(i)},
                    content_settings=ContentSettings(content_type=ctype, cache_control="max-age=3600"),
                    standard_blob_tier=StandardBlobTier.COOL if i % 17 == 0 else None,
                )
                self._count("blobs")

    def _blob(self, i: int) -> tuple[str, bytes, str]:
        kind = i % 4
        if kind == 0:
            rows = "\n".join(f"{j},{self.rng.random():.6f},{self.rng.randint(0, 1)}" for j in range(800))
            return f"data/customers/v{1 + i % 2}/part-{i:05d}.csv", ("id,score,label\n" + rows).encode(), "text/csv"
        if kind == 1:
            return (
                f"models/churn-classifier/{1 + i % 3}/model-{i}.json",
                json.dumps({"trees": [self.rng.random() for _ in range(2000)]}).encode(),
                "application/json",
            )
        if kind == 2:
            return f"images/raw/{i // 10}/img-{i:05d}.bin", self.rng.randbytes(96 * 1024), "application/octet-stream"
        return f"logs/2026/11/{i % 28 + 1:02d}/run-{i}.log", (f"step {i} ok\n" * 3000).encode(), "text/plain"


def _idempotent(call: Callable[[], Any]) -> None:
    """Run a create; an existing identical asset version is fine on a re-seed."""
    try:
        call()
    except ResourceExistsError:
        pass
