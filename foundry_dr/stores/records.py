"""Small JSON records in a storage account's ``foundry-dr`` container, written conditionally.

The pointer and the failover lock are such records. Every write is conditional on the version
that was read (If-Match its ETag, or If-None-Match * where there was none), so two writers never
both win: the second gets :class:`RecordChanged` and must read again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings

from foundry_dr.errors import RecordChanged
from foundry_dr.retry import QUICK_RETRY  # during an outage a reader must answer in seconds
from foundry_dr.state_layout import STATE_CONTAINER

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient




def read_record(service: BlobServiceClient, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(record, ETag), or (None, None) when the store answers that there is none. Any other
    failure (401, 403, unreachable, 5xx) raises: the caller decides how to fail closed."""
    blob = service.get_blob_client(STATE_CONTAINER, path)
    try:
        download = blob.download_blob(**QUICK_RETRY)
        return json.loads(download.readall()), download.properties.etag
    except ResourceNotFoundError:  # BlobNotFound or ContainerNotFound: no record here
        return None, None


def write_record(service: BlobServiceClient, path: str, data: bytes, etag: str | None) -> str:
    """Write over exactly the version read (``etag``; None: only if there is none). The new ETag."""
    blob = service.get_blob_client(STATE_CONTAINER, path)
    condition: dict[str, Any] = (
        {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        if etag
        else {"match_condition": MatchConditions.IfMissing}
    )
    for attempt in (1, 2):
        try:
            result = blob.upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type="application/json"),
                **condition, **QUICK_RETRY,
            )  # fmt: skip
            return str(result["etag"])
        except ResourceExistsError as exc:
            raise RecordChanged(f"{path} was written by someone else meanwhile") from exc
        except ResourceNotFoundError:
            if attempt == 2:
                raise
            try:
                service.create_container(STATE_CONTAINER)
            except ResourceExistsError:
                pass
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise RecordChanged(f"{path} was written by someone else meanwhile") from exc
            raise
    raise AssertionError("unreachable")


def update_record(service: BlobServiceClient, path: str, change: Callable[[dict[str, Any] | None], dict[str, Any]],
                  attempts: int = 5) -> dict[str, Any]:
    """Read, ``change`` (the record, or None when there is none, to the new one) and write back
    over exactly the version read; on a concurrent write, read again (at most ``attempts``
    times). The record written."""
    for _ in range(attempts):
        data, etag = read_record(service, path)
        new = change(data)
        try:
            write_record(service, path, json.dumps(new, indent=1).encode(), etag)
            return new
        except RecordChanged:
            continue
    raise RecordChanged(f"{path} kept changing")


def describe_failure(exc: BaseException) -> str:
    """One line for a failed read: status and code, or 'unreachable' (no secrets: no URL)."""
    if isinstance(exc, HttpResponseError) and exc.status_code:
        code = getattr(exc, "error_code", None)
        return f"{exc.status_code}{' ' + str(code) if code else ''}"
    if isinstance(exc, AzureError):
        return f"unreachable ({type(exc).__name__})"
    return type(exc).__name__
