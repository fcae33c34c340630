"""Microsoft.ContainerRegistry through ContainerRegistryManagementClient (azure-mgmt-containerregistry)."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import (
    ImportImageParameters,
    ImportSource,
    Registry,
    Replication,
    Sku,
)
from azure.mgmt.resource.resources import ResourceManagementClient
from sandbox_arm_harness import Arm
from sandbox_arm_harness import arm as arm  # noqa: F401  (the fixture, by its name)

pytestmark = pytest.mark.integration


@pytest.fixture
def rg(arm: Arm) -> str:
    name = f"rg-acr-{uuid.uuid4().hex[:8]}"
    arm.client(ResourceManagementClient).resource_groups.create_or_update(name, {"location": "eastus"})
    return name


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def test_registry_replication_and_listing(arm: Arm, rg: str) -> None:
    client = arm.client(ContainerRegistryManagementClient)
    name = _name("crprimary")
    reg = client.registries.begin_create(
        rg, name, Registry(location="eastus", sku=Sku(name="Premium"), admin_user_enabled=False)
    ).result()
    assert reg.provisioning_state == "Succeeded"
    assert reg.login_server == f"{name}.azurecr.io" and reg.sku.tier == "Premium"
    assert client.registries.get(rg, name).admin_user_enabled is False
    assert [r.name for r in client.registries.list_by_resource_group(rg)] == [name]

    rep = client.replications.begin_create(rg, name, "westus", Replication(location="westus")).result()
    assert rep.provisioning_state == "Succeeded" and rep.status.display_status == "Ready"
    reps = {r.name: r for r in client.replications.list(rg, name)}
    assert set(reps) == {"eastus", "westus"}  # the home region is listed too, as in ACR
    assert reps["westus"].location == "westus"


def test_replication_needs_premium(arm: Arm, rg: str) -> None:
    client = arm.client(ContainerRegistryManagementClient)
    name = _name("crbasic")
    client.registries.begin_create(rg, name, Registry(location="eastus", sku=Sku(name="Basic"))).result()
    with pytest.raises(HttpResponseError) as err:
        client.replications.begin_create(rg, name, "westus", Replication(location="westus")).result()
    assert err.value.status_code == 400 and err.value.error.code == "RegistrySkuNotSupported"


def test_import_image_copies_tags(arm: Arm, rg: str) -> None:
    client = arm.client(ContainerRegistryManagementClient)
    src, dst = _name("crsrc"), _name("crdst")
    source = client.registries.begin_create(
        rg, src, Registry(location="eastus", sku=Sku(name="Premium"))
    ).result()
    client.registries.begin_create(rg, dst, Registry(location="westus", sku=Sku(name="Standard"))).result()
    seeded = arm.control(
        "PUT",
        f"/registries/{src}/repositories",
        {"repositories": {"envs/train": {"tags": {"1": None, "2": None}}}},
    )
    digest1 = seeded["repositories"]["envs/train"]["tags"]["1"]

    client.registries.begin_import_image(
        rg,
        dst,
        ImportImageParameters(
            source=ImportSource(resource_id=source.id, source_image="envs/train:1"),
            target_tags=["envs/train:1", "envs/train:stable"],
            mode="NoForce",
        ),
    ).result()
    target = arm.control("GET", f"/registries/{dst}/repositories")
    assert target["repositories"]["envs/train"]["tags"] == {"1": digest1, "stable": digest1}

    # by digest, through the login server, no target tags: an untagged manifest
    digest2 = seeded["repositories"]["envs/train"]["tags"]["2"]
    client.registries.begin_import_image(
        rg,
        dst,
        ImportImageParameters(
            source=ImportSource(registry_uri=f"{src}.azurecr.io", source_image=f"envs/train@{digest2}")
        ),
    ).result()
    target = arm.control("GET", f"/registries/{dst}/repositories")
    assert digest2 in target["repositories"]["envs/train"]["manifests"]

    # NoForce over a tag that holds another digest: 409; Force overwrites
    params = ImportImageParameters(
        source=ImportSource(resource_id=source.id, source_image="envs/train:2"),
        target_tags=["envs/train:stable"],
        mode="NoForce",
    )
    with pytest.raises(HttpResponseError) as err:
        client.registries.begin_import_image(rg, dst, params).result()
    assert err.value.status_code == 409
    params.mode = "Force"
    client.registries.begin_import_image(rg, dst, params).result()
    target = arm.control("GET", f"/registries/{dst}/repositories")
    assert target["repositories"]["envs/train"]["tags"]["stable"] == digest2

    with pytest.raises(HttpResponseError) as err:
        client.registries.begin_import_image(
            rg,
            dst,
            ImportImageParameters(source=ImportSource(resource_id=source.id, source_image="envs/missing:1")),
        ).result()
    assert err.value.status_code == 404
