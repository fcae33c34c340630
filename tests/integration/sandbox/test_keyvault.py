"""The Key Vault secrets data plane through the real SecretClient (its challenge included)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient


def _client(env: dict, which: str = "credential") -> SecretClient:
    cred = env[which]
    credential = ClientSecretCredential(
        cred["tenant_id"],
        cred["client_id"],
        cred["client_secret"],
        authority=cred["authority"],
        disable_instance_discovery=True,
        connection_verify=env["ca_bundle"],
    )
    return SecretClient(
        env["keyvault_uri"], credential, verify_challenge_resource=False, connection_verify=env["ca_bundle"]
    )


@pytest.fixture
def secrets(sandbox_env: dict) -> SecretClient:
    return _client(sandbox_env)


@pytest.fixture
def name() -> str:
    return f"active-hub-{uuid.uuid4().hex[:8]}"


def test_set_get_and_list_versions(secrets: SecretClient, name: str, sandbox_env: dict) -> None:
    first = secrets.set_secret(name, "eastus", tags={"plan": "prod"}, content_type="text/plain")
    second = secrets.set_secret(name, "westus")

    assert first.id == f"{sandbox_env['keyvault_uri']}secrets/{name}/{first.properties.version}"
    assert len(first.properties.version) == 32
    assert secrets.get_secret(name).value == "westus"
    old = secrets.get_secret(name, first.properties.version)
    assert (old.value, old.properties.tags, old.properties.content_type) == (
        "eastus",
        {"plan": "prod"},
        "text/plain",
    )
    versions = {p.version for p in secrets.list_properties_of_secret_versions(name)}
    assert versions == {first.properties.version, second.properties.version}
    assert name in {p.name for p in secrets.list_properties_of_secrets()}


def test_listing_pages(secrets: SecretClient, name: str) -> None:
    for i in range(30):  # more than one page of 25
        secrets.set_secret(name, str(i))
    assert len(list(secrets.list_properties_of_secret_versions(name))) == 30


def test_missing_secret_is_not_found(secrets: SecretClient) -> None:
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret(f"missing-{uuid.uuid4().hex[:8]}")


def test_soft_delete_recover_and_purge(secrets: SecretClient, name: str) -> None:
    secrets.set_secret(name, "v1")
    deleted = secrets.begin_delete_secret(name).result()
    assert deleted.recovery_id.endswith(f"/deletedsecrets/{name}")
    with pytest.raises(ResourceNotFoundError):
        secrets.get_secret(name)
    with pytest.raises(ResourceExistsError):  # a soft-deleted name cannot be reused
        secrets.set_secret(name, "v2")
    assert name in {s.name for s in secrets.list_deleted_secrets()}

    secrets.begin_recover_deleted_secret(name).result()
    assert secrets.get_secret(name).value == "v1"

    secrets.begin_delete_secret(name).result()
    secrets.purge_deleted_secret(name)
    secrets.set_secret(name, "fresh")  # the name is free again
    assert [p.name for p in secrets.list_properties_of_secret_versions(name)] == [name]


def test_request_without_token_gets_the_challenge(sandbox, sandbox_env: dict) -> None:
    resp = httpx.get(
        f"{sandbox_env['keyvault_uri']}secrets/x?api-version=7.6",
        verify=sandbox_env["ca_bundle"],
        trust_env=False,
    )
    assert resp.status_code == 401
    challenge = resp.headers["www-authenticate"]
    assert f'authorization="{sandbox.authority}/{sandbox.tenant_id}"' in challenge
    assert 'resource="https://vault.azure.net"' in challenge


def test_sdk_follows_the_challenge(sandbox_env: dict, name: str, sandbox, request_log) -> None:
    # The SDK caches challenges per vault for the whole process; forget them to see the dance.
    from azure.keyvault.secrets._shared import http_challenge_cache

    http_challenge_cache.clear()
    _client(sandbox_env).set_secret(name, "v")
    statuses = [e["status"] for e in request_log(sandbox, service="keyvault", method="PUT", path=name)]
    assert statuses == [401, 200]


def test_reader_can_read_but_not_write(secrets: SecretClient, sandbox_env: dict, name: str) -> None:
    secrets.set_secret(name, "eastus")
    reader = _client(sandbox_env, "reader_credential")
    assert reader.get_secret(name).value == "eastus"
    with pytest.raises(HttpResponseError) as info:
        reader.set_secret(name, "westus")
    assert info.value.status_code == 403
    assert secrets.get_secret(name).value == "eastus"


def test_throttling_is_retried_after_retry_after(secrets, name, control, sandbox, request_log) -> None:
    secrets.set_secret(name, "v")  # token and challenge settled before throttling starts
    control(sandbox, "POST", "/faults", {"throttle": {"rate": 1.0, "retry_after": 1, "service": "keyvault"}})
    seen: list[int] = []

    def heal_after_first(response) -> None:
        seen.append(response.http_response.status_code)
        if len(seen) == 1:
            control(sandbox, "POST", "/heal")

    assert secrets.get_secret(name, raw_response_hook=heal_after_first).value == "v"
    assert seen == [429, 200]
    entries = request_log(sandbox, service="keyvault", method="GET", path=name)[-2:]
    assert [e["status"] for e in entries] == [429, 200]
    assert entries[1]["t"] - entries[0]["t"] >= 0.9  # azure-core honoured Retry-After: 1


def test_region_outage_does_not_touch_the_vault(secrets, name, control, sandbox) -> None:
    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus"}})
    secrets.set_secret(name, "still-here")  # a vault fails over by itself
    assert secrets.get_secret(name).value == "still-here"
