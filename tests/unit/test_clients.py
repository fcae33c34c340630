"""The client factory builds every client for every cloud, without touching the network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from azure.ai.ml import MLClient
from azure.keyvault.secrets import SecretClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobServiceClient

from foundry_dr.clients import AZURE_CLOUDS, ClientFactory, load_sandbox_env
from foundry_dr.errors import SandboxNotRunning
from foundry_dr.plan import Plan, apply_overrides, load_plan

PLANS = Path(__file__).resolve().parents[2] / "deployments" / "plans"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: building clients must stay offline."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access while building clients: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def sandbox_env(tmp_path: Path) -> dict:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a real CA; never used offline")
    return {
        "arm_endpoint": "https://127.0.0.1:1/",
        "ca_bundle": str(ca),
        "cloud_name": "FoundryDrSandbox",
        "cloud_metadata": {
            "azure_portal": "https://portal.azure.com/",
            "resource_manager": "https://127.0.0.1:1/",
            "active_directory": "https://127.0.0.1:1",
            "aml_resource_id": "https://127.0.0.1:1/",
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": "https://127.0.0.1:1/",
        },
        "credential": {
            "tenant_id": "t",
            "client_id": "c",
            "client_secret": "s",
            "authority": "https://127.0.0.1:1",
        },
        "keyvault_uri": "https://127.0.0.1:2/",
        "storage_accounts": {
            "stfdreastus": {
                "region": "eastus",
                "blob_endpoint": "http://127.0.0.1:3/stfdreastus",
                "key": "a2V5",
            },
        },
    }


def every_client(factory: ClientFactory, account: str) -> list[object]:
    plan = factory.plan
    sub = plan.primary.subscription_id
    return [
        factory.ml_client("primary"),
        factory.ml_client("secondary", plan.secondary.projects[0]),
        factory.resource_client(sub),
        factory.deployments_client(sub),
        factory.registry_client(sub),
        factory.blob_service(account),
        factory.secret_client(plan.shared.key_vault.name),
    ]


def check_types(clients: list[object]) -> None:
    expected = [
        MLClient,
        MLClient,
        ResourceManagementClient,
        DeploymentsMgmtClient,
        ContainerRegistryManagementClient,
        BlobServiceClient,
        SecretClient,
    ]
    assert [type(c) for c in clients] == expected


def test_sandbox_cloud_builds_every_client(tmp_path: Path) -> None:
    plan = load_plan(PLANS / "sandbox.yaml")
    factory = ClientFactory(plan, sandbox_env=sandbox_env(tmp_path))
    clients = every_client(factory, "stfdreastus")
    check_types(clients)
    assert factory.arm_endpoint == "https://127.0.0.1:1/"
    assert clients[5].url.startswith("http://127.0.0.1:3/stfdreastus")
    assert clients[6].vault_url == "https://127.0.0.1:2"
    assert clients[0].workspace_name == plan.primary.hub
    assert clients[1].workspace_name == plan.secondary.projects[0]


def test_clients_are_cached_per_factory(tmp_path: Path) -> None:
    factory = ClientFactory(load_plan(PLANS / "sandbox.yaml"), sandbox_env=sandbox_env(tmp_path))
    assert factory.ml_client("primary") is factory.ml_client("primary")
    assert factory.blob_service("stfdreastus") is factory.blob_service("stfdreastus")
    assert factory.credential is factory.credential
    assert factory.ml_client("primary") is not factory.ml_client("secondary")


REGIONS = {
    "AzureCloud": ("eastus2", "centralus"),
    "AzureUSGovernment": ("usgovvirginia", "usgovtexas"),
    "AzureChinaCloud": ("chinanorth2", "chinaeast2"),
}


def azure_plan(cloud: str) -> Plan:
    """The example Azure plan moved to ``cloud`` (with two of its regions)."""
    primary, secondary = REGIONS[cloud]
    return apply_overrides(
        load_plan(PLANS / "example-azure.yaml"),
        [f"cloud={cloud}", f"primary.location={primary}", f"secondary.location={secondary}"],
    )


@pytest.mark.parametrize("cloud", sorted(AZURE_CLOUDS))
def test_azure_clouds_build_every_client(cloud: str) -> None:
    plan = azure_plan(cloud)
    factory = ClientFactory(plan)
    clients = every_client(factory, plan.primary.storage_account)
    check_types(clients)
    endpoints = AZURE_CLOUDS[cloud]
    assert factory.arm_endpoint == endpoints.resource_manager
    assert clients[5].url.startswith(f"https://{plan.primary.storage_account}.blob.{endpoints.storage_suffix}")
    assert clients[6].vault_url == f"https://{plan.shared.key_vault.name}.{endpoints.keyvault_suffix}"


def test_sandbox_plan_without_running_sandbox_says_how_to_start_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDRY_DR_SANDBOX_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("FOUNDRY_DR_SANDBOX_ENV", raising=False)
    with pytest.raises(SandboxNotRunning, match="sandbox up"):
        load_sandbox_env()


def test_unknown_sandbox_account_is_refused(tmp_path: Path) -> None:
    factory = ClientFactory(load_plan(PLANS / "sandbox.yaml"), sandbox_env=sandbox_env(tmp_path))
    with pytest.raises(ValueError, match="not one of the sandbox's accounts"):
        factory.blob_service("nosuchaccount")


# learn.microsoft.com, "Azure Government developer guide": ARM's token audience in US Government is
# https://management.core.usgovcloudapi.net/ (azure-mgmt-core's get_arm_endpoints agrees), not the
# endpoint's own host; the public and China clouds use their endpoint.
ARM_SCOPES = {
    "AzureCloud": "https://management.azure.com/.default",
    "AzureUSGovernment": "https://management.core.usgovcloudapi.net/.default",
    "AzureChinaCloud": "https://management.chinacloudapi.cn/.default",
}


@pytest.mark.parametrize("cloud", sorted(ARM_SCOPES))
def test_management_clients_ask_for_the_cloud_s_arm_token_scope(cloud: str) -> None:
    plan = azure_plan(cloud)
    client = ClientFactory(plan).resource_client(plan.primary.subscription_id)
    assert client._config.credential_scopes == [ARM_SCOPES[cloud]]
