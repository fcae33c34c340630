"""One factory for every Azure client the tasks use, built from the plan's cloud.

The same code path serves Azure and the local sandbox: only endpoints, credential and CA
bundle differ. For the sandbox, the factory reads the sandbox's ``env.json`` (written by
``foundry-dr sandbox up``); it never imports the sandbox package.

Clients are cached per factory (one factory per flow run), so a runbook does not rebuild
pipelines, token caches and connection pools per call.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azure.core import AzureClouds
from azure.mgmt.core.tools import get_arm_endpoints

from foundry_dr.errors import SandboxNotRunning
from foundry_dr.fence import Fence, current_fence
from foundry_dr.retry import SDK_RETRY, STORAGE_RETRY
from foundry_dr.sides import Side

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.containerregistry import ContainerRegistryClient
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient
    from azure.mgmt.resource.deployments import DeploymentsMgmtClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.storage.blob import BlobServiceClient

    from foundry_dr.plan import Plan


SANDBOX_ENV_VARIABLE = "FOUNDRY_DR_SANDBOX_ENV"
SANDBOX_DIR_VARIABLE = "FOUNDRY_DR_SANDBOX_DIR"



@dataclass(frozen=True)
class CloudEndpoints:
    """Endpoints of one Azure cloud. ARM's endpoint and token scope come from azure-mgmt-core
    (``get_arm_endpoints``), the Entra ID authority from azure-identity (``AzureAuthorityHosts``);
    only the data-plane DNS suffixes, which no Azure SDK exports, are written here (learn.microsoft.com,
    "Azure Government endpoint mappings" and "Azure China developer guide")."""

    name: str
    setting: AzureClouds
    authority: str  # the name of its AzureAuthorityHosts constant (azure.identity is imported when needed)
    storage_suffix: str
    keyvault_suffix: str

    @property
    def authority_host(self) -> str:
        from azure.identity import AzureAuthorityHosts

        return getattr(AzureAuthorityHosts, self.authority)

    @property
    def resource_manager(self) -> str:
        return get_arm_endpoints(self.setting)["resource_manager"]

    @property
    def acr_audience(self) -> str:
        # azure-containerregistry's README, "Create a client": ACR's own audience in the public
        # cloud, the ARM endpoint in national clouds.
        return ACR_AUDIENCE if self.setting == AzureClouds.AZURE_PUBLIC_CLOUD else self.resource_manager.rstrip("/")

    @property
    def arm_scope(self) -> str:
        # US Government's scope is management.core.usgovcloudapi.net, not its endpoint's host.
        return get_arm_endpoints(self.setting)["credential_scopes"][0]


AZURE_CLOUDS: dict[str, CloudEndpoints] = {
    "AzureCloud": CloudEndpoints(
        "AzureCloud", AzureClouds.AZURE_PUBLIC_CLOUD, "AZURE_PUBLIC_CLOUD",
        "core.windows.net", "vault.azure.net",
    ),
    "AzureUSGovernment": CloudEndpoints(
        "AzureUSGovernment", AzureClouds.AZURE_US_GOVERNMENT, "AZURE_GOVERNMENT",
        "core.usgovcloudapi.net", "vault.usgovcloudapi.net",
    ),
    "AzureChinaCloud": CloudEndpoints(
        "AzureChinaCloud", AzureClouds.AZURE_CHINA_CLOUD, "AZURE_CHINA",
        "core.chinacloudapi.cn", "vault.azure.cn",
    ),
}


ACR_AUDIENCE = "https://containerregistry.azure.net"  # azure.containerregistry's DEFAULT_AUDIENCE

MGMT_POOL_SIZE = 32  # runbooks run up to 16 endpoint creations at once; the default pool is 10


def _pooled_transport(size: int, connection_verify: str | bool = True) -> Any:
    """A requests transport whose connection pool fits the caller's concurrency (the default
    of 10 makes parallel tasks queue for connections and log "Connection pool is full")."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # an explicit transport ignores the client's connection_verify: give it to the transport
    return RequestsTransport(session=session, session_owner=True, connection_verify=connection_verify)


def _forget_inherited_custom_cloud() -> None:
    """azure-ai-ml records the cloud of the last MLClient in AZUREML_CURRENT_CLOUD and reads it
    when its entities are imported. A child process (a Prefect worker's flow run, say) that
    inherits a custom cloud's name fails to import azure.ai.ml, because custom clouds are
    registered per process. Public cloud names are kept; a custom one is re-registered by the
    next MLClient(cloud=..., cloud_metadata=...)."""
    value = os.environ.get("AZUREML_CURRENT_CLOUD")
    if value and value not in AZURE_CLOUDS:
        os.environ.pop("AZUREML_CURRENT_CLOUD", None)



def sandbox_env_path() -> Path:
    """Where the sandbox's env.json is: $FOUNDRY_DR_SANDBOX_ENV, else <sandbox dir>/env.json."""
    explicit = os.environ.get(SANDBOX_ENV_VARIABLE)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(SANDBOX_DIR_VARIABLE) or ".sandbox").resolve() / "env.json"


def load_sandbox_env(path: Path | None = None) -> dict:
    env_file = path or sandbox_env_path()
    if not env_file.is_file():
        raise SandboxNotRunning(
            f"the plan's cloud is 'sandbox' but {env_file} does not exist: start it with "
            "`foundry-dr sandbox up --detach` (or set FOUNDRY_DR_SANDBOX_DIR)"
        )
    return json.loads(env_file.read_text())


class ClientFactory:
    """Builds (once) and caches the Azure clients for a plan."""

    def __init__(self, plan: Plan, credential: TokenCredential | None = None, sandbox_env: dict | None = None) -> None:
        self.plan = plan
        self._lock = threading.RLock()
        self._cache: dict[tuple, Any] = {}
        self._explicit_credential = credential
        self.is_sandbox = plan.cloud == "sandbox"
        self._sandbox_env = sandbox_env
        # captured here: the tasks' own thread pools do not carry the context variable
        self._fence: Fence | None = current_fence(plan.name)
        if not self.is_sandbox and plan.cloud not in AZURE_CLOUDS:
            raise ValueError(f"cloud: unknown cloud {plan.cloud!r}; expected one of {sorted(AZURE_CLOUDS)} or sandbox")

    # ---- environment -----------------------------------------------------------------------
    @cached_property
    def sandbox_env(self) -> dict:
        return self._sandbox_env if self._sandbox_env is not None else load_sandbox_env()

    @property
    def arm_endpoint(self) -> str:
        return self.sandbox_env["arm_endpoint"] if self.is_sandbox else AZURE_CLOUDS[self.plan.cloud].resource_manager

    @property
    def arm_scope(self) -> str:
        return "https://management.azure.com/.default" if self.is_sandbox else AZURE_CLOUDS[self.plan.cloud].arm_scope

    def _transport_kwargs(self) -> dict[str, Any]:
        kwargs = dict(SDK_RETRY)  # the retry budget: foundry_dr.retry
        if self.is_sandbox:
            kwargs["connection_verify"] = self.sandbox_env["ca_bundle"]
        return kwargs

    def _verify(self) -> str | bool:
        return self.sandbox_env["ca_bundle"] if self.is_sandbox else True

    # ---- the fence of a fenced drill (foundry_dr/fence.py) ----------------------------------
    def fence(self) -> Fence | None:
        """The fence of a fenced drill, if this factory was built (or attached) under one: its
        clients refuse the primary."""
        return self._fence or current_fence(self.plan.name)

    def attach_fence(self, fence: Fence | None) -> None:
        """Fence this factory from now on (a factory built before the drill entered its fence).
        Clients built before stay cached under their own key and are not reused."""
        self._fence = fence

    def _fence_policies(self, endpoint_is_primary: str | None = None) -> dict[str, Any]:
        """``per_call_policies`` for an azure-core client (before its retry policy: a refused call is
        not retried), when fenced."""
        fence = self.fence()
        return {"per_call_policies": [fence.policy(endpoint_is_primary)]} if fence else {}

    def _primary_resource(self, kind: str, name: str, resource_group: str, subscription_id: str | None) -> str | None:
        """``"the primary's <kind> <name>"`` when a shared resource lives in the primary's resource group."""
        p = self.plan.primary
        same_subscription = (subscription_id or p.subscription_id) == p.subscription_id
        if same_subscription and resource_group.lower() == p.resource_group.lower():
            return f"the {kind} {name}, in the primary's resource group"
        return None

    def _cached(self, key: tuple, build: Any) -> Any:
        fence = self.fence()
        key = (*key, id(fence) if fence else None)  # a client built outside a fence is never reused inside
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    # ---- credential ------------------------------------------------------------------------
    @property
    def credential(self) -> TokenCredential:
        """DefaultAzureCredential for Azure clouds; a client-secret credential against the sandbox's
        own token endpoint for the sandbox (still azure-identity, still a real token flow)."""

        def build() -> TokenCredential:
            if self._explicit_credential is not None:
                return self._explicit_credential
            if self.is_sandbox:
                from azure.identity import ClientSecretCredential

                c = self.sandbox_env["credential"]
                return ClientSecretCredential(
                    c["tenant_id"],
                    c["client_id"],
                    c["client_secret"],
                    authority=c["authority"],
                    disable_instance_discovery=True,
                    connection_verify=self.sandbox_env["ca_bundle"],
                )
            from azure.identity import DefaultAzureCredential

            return DefaultAzureCredential(authority=AZURE_CLOUDS[self.plan.cloud].authority_host)

        return self._cached(("credential",), build)

    # ---- clients ---------------------------------------------------------------------------
    def _side(self, side: Side) -> Any:
        return self.plan.primary if side == "primary" else self.plan.secondary

    def ml_client(self, side: Side, workspace: str | None = None) -> MLClient:
        """MLClient for the side's hub (``workspace`` None) or one of its projects."""
        s = self._side(side)
        name = workspace or s.hub

        def build() -> MLClient:
            from azure.ai.ml import MLClient

            kwargs = self._transport_kwargs()
            if self.is_sandbox:
                kwargs["cloud"] = self.sandbox_env["cloud_name"]
                kwargs["cloud_metadata"] = self.sandbox_env["cloud_metadata"]
            else:
                kwargs["cloud"] = self.plan.cloud
            kwargs.update(self._fence_policies())
            return MLClient(
                self.credential,
                s.subscription_id,
                s.resource_group,
                name,
                show_progress=False,
                enable_telemetry=False,
                **kwargs,
            )

        return self._cached(("ml", side, name.lower()), build)

    def _mgmt_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.arm_endpoint,
            "credential_scopes": [self.arm_scope],
            "transport": _pooled_transport(MGMT_POOL_SIZE, self._verify()),
            **self._transport_kwargs(),
            **self._fence_policies(),
        }

    def resource_client(self, subscription_id: str) -> ResourceManagementClient:
        def build() -> ResourceManagementClient:
            from azure.mgmt.resource.resources import ResourceManagementClient

            return ResourceManagementClient(self.credential, subscription_id, **self._mgmt_kwargs())

        return self._cached(("resources", subscription_id), build)

    def deployments_client(self, subscription_id: str) -> DeploymentsMgmtClient:
        def build() -> DeploymentsMgmtClient:
            from azure.mgmt.resource.deployments import DeploymentsMgmtClient

            return DeploymentsMgmtClient(self.credential, subscription_id, **self._mgmt_kwargs())

        return self._cached(("deployments", subscription_id), build)

    def registry_client(self, subscription_id: str) -> ContainerRegistryManagementClient:
        def build() -> ContainerRegistryManagementClient:
            from azure.mgmt.containerregistry import ContainerRegistryManagementClient

            return ContainerRegistryManagementClient(self.credential, subscription_id, **self._mgmt_kwargs())

        return self._cached(("registry", subscription_id), build)

    def authorization_client(self, subscription_id: str) -> AuthorizationManagementClient:
        """Role assignments and role definitions (Microsoft.Authorization) at any scope."""

        def build() -> AuthorizationManagementClient:
            from azure.mgmt.authorization import AuthorizationManagementClient

            return AuthorizationManagementClient(self.credential, subscription_id, **self._mgmt_kwargs())

        return self._cached(("authorization", subscription_id), build)

    def registry_data_client(self, login_server: str) -> ContainerRegistryClient:
        """The registry's data plane (tags, manifests) at ``https://{login_server}``; the sandbox
        serves it under its ARM front (``{arm_endpoint}_acr/{login_server}``). Authentication is
        ACR's token exchange of the Entra ID token, which the SDK does itself."""

        def build() -> ContainerRegistryClient:
            from azure.containerregistry import ContainerRegistryClient

            if self.is_sandbox:
                endpoint = f"{self.sandbox_env['arm_endpoint'].rstrip('/')}/_acr/{login_server}"
                audience = ACR_AUDIENCE
            else:
                endpoint = f"https://{login_server}"
                audience = AZURE_CLOUDS[self.plan.cloud].acr_audience
            registry = self.plan.shared.container_registry
            primary = (
                self._primary_resource("registry", registry.name, registry.resource_group, registry.subscription_id)
                if registry and login_server.lower().startswith(registry.name.lower() + ".")
                else None
            )
            return ContainerRegistryClient(
                endpoint, self.credential, audience=audience,
                **self._transport_kwargs(), **self._fence_policies(primary),
            )

        return self._cached(("acr-data", login_server.lower()), build)

    def cognitive_client(self, subscription_id: str) -> CognitiveServicesManagementClient:
        """AI Services (Cognitive Services) accounts, model deployments, RAI policies and blocklists,
        the region's models, model capacities and usages."""

        def build() -> CognitiveServicesManagementClient:
            from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient

            return CognitiveServicesManagementClient(self.credential, subscription_id, **self._mgmt_kwargs())

        return self._cached(("cognitive", subscription_id), build)

    def blob_account_url(self, account: str) -> str:
        if self.is_sandbox:
            accounts = self.sandbox_env["storage_accounts"]
            if account not in accounts:
                raise ValueError(f"storage account {account!r} is not one of the sandbox's accounts {sorted(accounts)}")
            return accounts[account]["blob_endpoint"]
        return f"https://{account}.blob.{AZURE_CLOUDS[self.plan.cloud].storage_suffix}"

    def blob_service(self, account: str, max_connections: int = 64) -> BlobServiceClient:
        """Blob client of an account. Azure: Entra ID (needs Storage Blob Data roles). Sandbox:
        Azurite accepts no Entra tokens, so its generated account key is used (never logged).

        Cached per (account, ``max_connections``): the connection pool is fixed when the client is
        built, so a caller asking for a wider pool (a shard's copy threads) gets a client that has it."""

        def build() -> BlobServiceClient:
            account_url = self.blob_account_url(account)  # refuses unknown sandbox accounts first
            from azure.storage.blob import BlobServiceClient, ExponentialRetry

            kwargs = self._transport_kwargs()
            kwargs.pop("connection_verify", None)  # the sandbox's blob endpoint is plain http
            # Storage has its own retry policy (its default first back-off is 15 s); Storage
            # throttles with 503 ServerBusy, which this retries.
            kwargs["retry_policy"] = ExponentialRetry(**STORAGE_RETRY)
            # azure-storage takes no per_call_policies; its request hook runs for every request
            if fence := self.fence():
                p = self.plan.primary
                primary = account in (p.storage_account, *p.extra_storage_accounts)
                why = f"the primary's storage account {account}" if primary else None
                kwargs["raw_request_hook"] = fence.storage_hook(why)
            if self.is_sandbox:
                key = self.sandbox_env["storage_accounts"][account]["key"]
                credential: Any = {"account_name": account, "account_key": key}
            else:
                credential = self.credential
            return BlobServiceClient(
                account_url,
                credential=credential,
                transport=_pooled_transport(max_connections),  # as wide as the copy concurrency
                **kwargs,
            )

        return self._cached(("blob", account, max_connections), build)

    def secret_client(self, vault_name: str) -> SecretClient:
        def build() -> SecretClient:
            from azure.keyvault.secrets import SecretClient

            vault = self.plan.shared.key_vault
            kwargs = {**self._transport_kwargs(), **self._fence_policies(
                self._primary_resource("vault", vault.name, vault.resource_group, vault.subscription_id)
                if vault_name.lower() == vault.name.lower() else None
            )}
            if self.is_sandbox:
                url = self.sandbox_env["keyvault_uri"]
                return SecretClient(url, self.credential, verify_challenge_resource=False, **kwargs)
            url = f"https://{vault_name}.{AZURE_CLOUDS[self.plan.cloud].keyvault_suffix}/"
            return SecretClient(url, self.credential, **kwargs)

        return self._cached(("secrets", vault_name), build)

    def close(self) -> None:
        """Close every cached client (their connection pools)."""
        with self._lock:
            for client in self._cache.values():
                closer = getattr(client, "close", None)
                if callable(closer):
                    try:
                        closer()
                    except Exception:  # noqa: BLE001 - closing is best effort
                        pass
            self._cache.clear()


_forget_inherited_custom_cloud()
