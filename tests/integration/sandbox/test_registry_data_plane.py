"""ACR behaviour the import step depends on: NoForce fails on any existing target tag, and the
registry's data plane (azure-containerregistry, with ACR's OAuth2 token exchange) tells a tag's digest."""

from __future__ import annotations

import uuid

import pytest
import requests
from azure.containerregistry import ContainerRegistryClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import ImportImageParameters, ImportSource, Registry, Sku
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm_harness import Arm
from sandbox_arm_harness import arm as arm  # noqa: F401  (the fixture, by its name)

pytestmark = pytest.mark.integration


def _registries(arm: Arm) -> tuple[ContainerRegistryManagementClient, str, Registry, str]:
    rg = f"rg-acrdp-{uuid.uuid4().hex[:8]}"
    arm.client(ResourceManagementClient).resource_groups.create_or_update(rg, {"location": "eastus"})
    client = arm.client(ContainerRegistryManagementClient)
    src, dst = f"crsrc{uuid.uuid4().hex[:10]}", f"crdst{uuid.uuid4().hex[:10]}"
    source = client.registries.begin_create(rg, src, Registry(location="eastus", sku=Sku(name="Premium"))).result()
    client.registries.begin_create(rg, dst, Registry(location="westus", sku=Sku(name="Standard"))).result()
    return client, rg, source, dst


def test_no_force_fails_the_operation_on_an_existing_tag_even_with_the_same_digest(arm: Arm) -> None:
    """ImportImageParameters.mode: "When NoForce, any existing target tags will fail the operation
    before any copying begins" -- a re-import of an identical image is a failure, not a no-op."""
    client, rg, source, dst = _registries(arm)
    arm.control("PUT", f"/registries/{source.name}/repositories", {"repositories": {"app": {"tags": {"1": None}}}})
    params = ImportImageParameters(
        source=ImportSource(resource_id=source.id, source_image="app:1"), target_tags=["app:1"], mode="NoForce"
    )
    client.registries.begin_import_image(rg, dst, params).result()
    before = arm.control("GET", f"/registries/{dst}/repositories")
    with pytest.raises(HttpResponseError) as err:
        client.registries.begin_import_image(rg, dst, params).result()
    assert err.value.error.code == "Conflict"
    assert arm.control("GET", f"/registries/{dst}/repositories") == before


def test_data_plane_reads_tag_and_manifest_digests_after_the_token_exchange(arm: Arm) -> None:
    _, _, source, _ = _registries(arm)
    seeded = arm.control("PUT", f"/registries/{source.name}/repositories",
                         {"repositories": {"team/app": {"tags": {"1": None}}}})  # fmt: skip
    digest = seeded["repositories"]["team/app"]["tags"]["1"]
    endpoint = f"{arm.config.arm_endpoint.rstrip('/')}/_acr/{source.login_server}"

    # no token: ACR's challenge names the realm, the service and the scope to ask for
    anonymous = requests.get(f"{endpoint}/acr/v1/team/app/_tags/1", verify=arm.ca, timeout=10)
    assert anonymous.status_code == 401
    challenge = anonymous.headers["WWW-Authenticate"]
    assert f'service="{source.login_server}"' in challenge and 'scope="repository:team/app:metadata_read"' in challenge

    client = ContainerRegistryClient(endpoint, arm.credential(), audience="https://containerregistry.azure.net",
                                     connection_verify=arm.ca)  # fmt: skip
    with client:
        assert client.get_tag_properties("team/app", "1").digest == digest
        assert client.get_manifest_properties("team/app", digest).tags == ["1"]
        with pytest.raises(ResourceNotFoundError):
            client.get_tag_properties("team/app", "2")
        with pytest.raises(ResourceNotFoundError):
            client.get_tag_properties("team/other", "1")
