"""The Key Vault secrets data plane through the real SecretClient (its challenge included)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient


def _client(env: dict, which: str = "credential", **kwargs: Any) -> SecretClient:
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
        env["keyvault_uri"], credential, verify_challenge_resource=False, connection_verify=env["ca_bundle"], **kwargs
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


# ---- read-only mode (the vault failed over to its paired region) ----------------------------
def _no_retry_client(env: dict) -> SecretClient:
    """azure-core retries a 503 (even PUT/PATCH/POST) 10 times with backoff: minutes per write."""
    return _client(env, retry_total=0)


def _assert_read_only(client: SecretClient, name: str) -> None:
    assert client.get_secret(name).value == "v1"
    assert name in {p.name for p in client.list_properties_of_secrets()}
    assert len(list(client.list_properties_of_secret_versions(name))) == 1
    writes = {
        "SecretSet": lambda: client.set_secret(name, "v2"),
        "SecretUpdate": lambda: client.update_secret_properties(name, tags={"x": "y"}),
        "SecretDelete": lambda: client.begin_delete_secret(name),
    }
    for operation, write in writes.items():
        with pytest.raises(HttpResponseError) as info:
            write()
        assert info.value.status_code == 503, operation
        assert info.value.error is not None and info.value.error.code == "ServiceUnavailable"
        assert f'Operation "{operation}" is unavailable' in info.value.message
        assert "read-only state" in info.value.message
    assert client.get_secret(name).value == "v1"  # nothing was written


@pytest.mark.parametrize("mode", ["503", "reset"])
def test_outage_of_the_vault_region_makes_it_read_only(sandbox_env, name, control, sandbox, mode) -> None:
    client = _no_retry_client(sandbox_env)
    client.set_secret(name, "v1")
    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus", "mode": mode}})
    _assert_read_only(client, name)


def test_outage_of_another_region_leaves_the_vault_writable(secrets, name, control, sandbox) -> None:
    control(sandbox, "POST", "/faults", {"outage": {"region": "westus"}})
    secrets.set_secret(name, "written")
    assert secrets.get_secret(name).value == "written"


def test_read_only_control_without_an_outage(sandbox_env, name, control, sandbox, request_log) -> None:
    client = _no_retry_client(sandbox_env)
    client.set_secret(name, "v1")
    client.begin_delete_secret(name).result()  # a soft-deleted secret: recover and purge are writes too
    state = control(sandbox, "POST", "/faults", {"vault_read_only": True})
    assert state["vault_read_only"] is True and state["outages"] == {}
    assert control(sandbox, "GET", "/faults")["vault_read_only"] is True
    assert client.get_deleted_secret(name).name == name
    assert name in {s.name for s in client.list_deleted_secrets()}
    for operation, write in {
        "SecretRecover": lambda: client.begin_recover_deleted_secret(name),
        "SecretPurge": lambda: client.purge_deleted_secret(name),
    }.items():
        with pytest.raises(HttpResponseError) as info:
            write()
        assert (info.value.status_code, info.value.error.code) == (503, "ServiceUnavailable")
        assert f'Operation "{operation}"' in info.value.message
    assert name in {s.name for s in client.list_deleted_secrets()}  # neither recovered nor purged
    logged = request_log(sandbox, service="keyvault", path=f"/deletedsecrets/{name}")
    assert {(e["method"], e["status"]) for e in logged} >= {("POST", 503), ("DELETE", 503), ("GET", 200)}

    control(sandbox, "POST", "/heal")
    assert control(sandbox, "GET", "/faults")["vault_read_only"] is False
    client.begin_recover_deleted_secret(name).result()
    assert client.get_secret(name).value == "v1"


def test_read_only_control_also_blocks_set(sandbox_env, name, control, sandbox) -> None:
    client = _no_retry_client(sandbox_env)
    client.set_secret(name, "v1")
    control(sandbox, "POST", "/faults", {"vault_read_only": True})
    _assert_read_only(client, name)
    control(sandbox, "POST", "/faults", {"vault_read_only": False})  # switched off without a heal
    client.set_secret(name, "v3")
    assert client.get_secret(name).value == "v3"


def test_writes_work_again_after_heal(sandbox_env, name, control, sandbox) -> None:
    client = _no_retry_client(sandbox_env)
    client.set_secret(name, "v1")
    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus"}, "vault_read_only": True})
    with pytest.raises(HttpResponseError):
        client.set_secret(name, "lost")
    control(sandbox, "POST", "/heal")
    assert client.set_secret(name, "v2").value == "v2"
    client.update_secret_properties(name, tags={"after": "heal"})
    assert client.get_secret(name).properties.tags == {"after": "heal"}
    client.begin_delete_secret(name).result()
    client.purge_deleted_secret(name)


def test_sdk_retries_a_read_only_write(sandbox_env, name, control, sandbox, request_log) -> None:
    client = _client(sandbox_env)
    client.set_secret(name, "v1")
    control(sandbox, "POST", "/faults", {"vault_read_only": True})
    with pytest.raises(HttpResponseError) as info:
        client.set_secret(name, "v2", retry_total=2, retry_backoff_factor=0.01)
    assert info.value.status_code == 503
    statuses = [e["status"] for e in request_log(sandbox, service="keyvault", method="PUT", path=name)]
    assert statuses[-4:] == [200, 503, 503, 503]  # v1, then the first try of v2 and 2 retries
