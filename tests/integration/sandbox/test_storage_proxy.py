"""The storage proxy in front of Azurite, through the real azure-storage-blob client.

Checks that the proxy is transparent (metadata, content settings, odd blob names, large
streamed bodies, cross-account server-side copy with a SAS), that it adds the Azure rule Azurite
lacks (synchronous Copy Blob From URL takes block blob sources only) and that faults look to the
SDK the way Azure Storage's look: outages per region, throttling that the SDK retries.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    BlobType,
    ContainerClient,
    ContentSettings,
    LinearRetry,
    generate_blob_sas,
)

EAST, EAST_DATA, WEST = "stfdreastus", "stfdreastusdata", "stfdrwestus"


@pytest.fixture
def blob_service(sandbox_env: dict) -> Callable[..., BlobServiceClient]:
    """``blob_service(account, **client_kwargs)`` for an account of the sandbox."""

    def make(account: str, **kwargs) -> BlobServiceClient:
        acct = sandbox_env["storage_accounts"][account]
        credential = {"account_name": account, "account_key": acct["key"]}
        return BlobServiceClient(acct["blob_endpoint"], credential=credential, **kwargs)

    return make


@pytest.fixture
def container(blob_service) -> Callable[[str], ContainerClient]:
    """``container(account)``: a new, uniquely named container in that account."""
    name = f"t{uuid.uuid4().hex[:16]}"

    def make(account: str, **kwargs) -> ContainerClient:
        client = blob_service(account, **kwargs).get_container_client(name)
        if not client.exists():
            client.create_container()
        return client

    return make


def test_upload_download_keeps_metadata_and_content_settings(container) -> None:
    cont = container(EAST)
    name = "nested dir/sub+dir/ü résumé #1.json"  # spaces, '+', '#', non-ASCII: raw path must pass through
    settings = ContentSettings(
        content_type="application/json",
        content_encoding="identity",
        content_language="en-US",
        content_disposition="attachment; filename=r.json",
        cache_control="max-age=60",
    )
    data = b'{"hello": "world"}'
    cont.upload_blob(name, data, metadata={"owner": "dr", "tier": "gold"}, content_settings=settings)

    blob = cont.get_blob_client(name)
    props = blob.get_blob_properties()
    assert props.metadata == {"owner": "dr", "tier": "gold"}
    assert props.size == len(data)
    for field in (
        "content_type",
        "content_encoding",
        "content_language",
        "content_disposition",
        "cache_control",
    ):
        assert getattr(props.content_settings, field) == getattr(settings, field)
    assert blob.download_blob().readall() == data
    assert [b.name for b in cont.list_blobs(name_starts_with="nested dir/")] == [name]


def test_large_blobs_stream_both_ways(container) -> None:
    cont = container(EAST, max_single_put_size=4 * 1024 * 1024, max_block_size=4 * 1024 * 1024)
    data = os.urandom(20 * 1024 * 1024 + 123)
    cont.upload_blob("big/single.bin", data[: 3 * 1024 * 1024])  # one Put Blob (body streamed)
    cont.upload_blob("big/blocks.bin", data, max_concurrency=4)  # staged blocks + commit
    got = cont.download_blob("big/blocks.bin", max_concurrency=4).readall()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert cont.download_blob("big/single.bin").readall() == data[: 3 * 1024 * 1024]


def test_cross_account_copy_with_read_only_sas(container, sandbox_env, sandbox, request_log) -> None:
    src = container(EAST).get_blob_client("models/m1/weights.bin")
    src.upload_blob(b"w" * 4096, metadata={"version": "3"})
    sas = generate_blob_sas(
        EAST,
        src.container_name,
        src.blob_name,
        account_key=sandbox_env["storage_accounts"][EAST]["key"],
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(minutes=30),
    )
    dst = container(WEST).get_blob_client("models/m1/weights.bin")

    result = dst.start_copy_from_url(f"{src.url}?{sas}")

    assert result["copy_status"] == "success"  # Azurite copies within one instance at once
    assert dst.download_blob().readall() == b"w" * 4096
    assert dst.get_blob_properties().metadata == {"version": "3"}
    copies = request_log(
        sandbox, service="storage", method="PUT", path=f"/{WEST}/{dst.container_name}/models"
    )
    assert [(e["region"], e["status"]) for e in copies] == [("westus", 202)]


@pytest.fixture
def sas_url(sandbox_env) -> Callable[[BlobClient], str]:
    """``sas_url(blob)``: the blob's URL with a read-only SAS, as a copy source."""

    def make(blob: BlobClient) -> str:
        sas = generate_blob_sas(
            blob.account_name,
            blob.container_name,
            blob.blob_name,
            account_key=sandbox_env["storage_accounts"][blob.account_name]["key"],
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(UTC) + timedelta(minutes=30),
        )
        return f"{blob.url}?{sas}"

    return make


@pytest.fixture
def non_block_sources(container) -> dict[str, BlobClient]:
    """An append blob and a page blob in eastus, each with some content."""
    cont = container(EAST)
    append = cont.get_blob_client("logs/run.log")
    append.create_append_blob()
    append.append_block(b"line 1\n")
    append.append_block(b"line 2\n")
    page = cont.get_blob_client("disks/os.vhd")
    page.create_page_blob(size=1024)
    page.upload_page(b"p" * 512, offset=0, length=512)
    return {"append": append, "page": page}


@pytest.mark.parametrize("kind", ["append", "page"])
def test_sync_copy_of_append_or_page_blob_is_refused_like_azure(
    kind, non_block_sources, container, sas_url, sandbox, request_log
) -> None:
    # Copy Blob From URL takes committed block blobs only; Azure answers 409 (Azurite copies).
    dst = container(WEST, retry_total=0).get_blob_client(f"copies/{kind}")
    with pytest.raises(HttpResponseError) as info:
        dst.start_copy_from_url(sas_url(non_block_sources[kind]), requires_sync=True)
    assert (info.value.status_code, info.value.error_code) == (409, "CannotVerifyCopySource")
    assert info.value.response.headers["x-ms-request-id"]
    assert info.value.response.text().startswith(
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>CannotVerifyCopySource</Code>'
        "<Message>The copy source must be a block blob."
    )
    assert not dst.exists()
    entries = request_log(sandbox, service="storage", method="PUT", path=f"/{dst.container_name}/copies/{kind}")
    assert [(e["region"], e["status"]) for e in entries] == [("westus", 409)]
    assert all("sig=" not in e["path"] for e in request_log(sandbox, service="storage"))


def test_sync_copy_of_block_blob_still_copies(container, sas_url) -> None:
    src = container(EAST).get_blob_client("models/sync/weights.bin")
    src.upload_blob(b"s" * 2048, metadata={"version": "7"})
    dst = container(WEST).get_blob_client("models/sync/weights.bin")

    result = dst.start_copy_from_url(sas_url(src), requires_sync=True)

    assert result["copy_status"] == "success"
    assert dst.download_blob().readall() == b"s" * 2048
    props = dst.get_blob_properties()
    assert (props.blob_type, props.metadata) == (BlobType.BLOCKBLOB, {"version": "7"})


@pytest.mark.parametrize("kind", ["append", "page"])
def test_async_copy_of_append_or_page_blob_keeps_its_type(kind, non_block_sources, container, sas_url) -> None:
    src = non_block_sources[kind]
    dst = container(WEST).get_blob_client(f"async/{kind}")

    result = dst.start_copy_from_url(sas_url(src))

    assert result["copy_status"] == "success"
    assert dst.get_blob_properties().blob_type == src.get_blob_properties().blob_type
    assert dst.download_blob().readall() == src.download_blob().readall()


def test_eastus_outage_fails_eastus_accounts_only_and_heal_restores(container, control, sandbox) -> None:
    east = container(EAST, retry_total=0)
    east_data = container(EAST_DATA, retry_total=0)
    west = container(WEST, retry_total=0)

    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus"}})
    for cont in (east, east_data):
        with pytest.raises(HttpResponseError) as info:
            cont.get_container_properties()
        assert info.value.status_code == 503
        assert info.value.error_code == "ServerBusy"
    west.upload_blob("still-up.txt", b"ok")  # the other region is untouched

    control(sandbox, "POST", "/heal")
    east.upload_blob("back.txt", b"ok")
    assert east.download_blob("back.txt").readall() == b"ok"


def test_outage_in_reset_mode_drops_connections(container, control, sandbox) -> None:
    east = container(EAST, retry_total=0)
    control(sandbox, "POST", "/faults", {"outage": {"region": "eastus", "mode": "reset"}})
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        east.get_container_properties()
    container(WEST, retry_total=0).get_container_properties()


def test_throttling_is_retried_by_the_sdk(container, control, sandbox, request_log) -> None:
    # Azure Storage throttles with 503 ServerBusy (its SDK does not retry a 429), so the proxy
    # answers a throttle decision that way. Heal once the SDK has seen the first answer.
    cont = container(EAST, retry_policy=LinearRetry(backoff=0.2, random_jitter_range=0, retry_total=3))
    control(sandbox, "POST", "/faults", {"throttle": {"rate": 1.0, "retry_after": 1, "service": "storage"}})
    seen: list[int] = []

    def heal_after_first(response) -> None:
        seen.append(response.http_response.status_code)
        if len(seen) == 1:
            control(sandbox, "POST", "/heal")

    cont.upload_blob("throttled.txt", b"x", raw_response_hook=heal_after_first)

    assert seen == [503, 201]
    entries = request_log(sandbox, service="storage", path=f"/{cont.container_name}/throttled.txt")
    assert [e["status"] for e in entries] == [503, 201]


def test_fail_nth_fails_exactly_one_call(container, control, sandbox) -> None:
    cont = container(WEST, retry_total=0)
    rule = {"n": 2, "status": 500, "service": "storage", "path_contains": f"/{cont.container_name}/nth"}
    control(sandbox, "POST", "/faults", {"fail_nth": rule})
    cont.upload_blob("nth-1.txt", b"1")
    with pytest.raises(HttpResponseError) as info:
        cont.upload_blob("nth-2.txt", b"2")
    assert (info.value.status_code, info.value.error_code) == (500, "InternalError")
    cont.upload_blob("nth-3.txt", b"3")
