"""Small Azure Storage helpers every part of the engine shares: the shard's containers, the
write conditions that protect a concurrent writer, properties, hashing and error text.

``describe_error`` is the one way an SDK error becomes text here: one line, redacted, because a
storage error can quote a request URL and every source URL carries a SAS.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContentSettings, StandardBlobTier

from foundry_dr.blob_sync import ARCHIVE, BlobEntry
from foundry_dr.redact import redact_text

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from foundry_dr.clients import ClientFactory
    from foundry_dr.replication.job import ShardJob


@dataclass(frozen=True)
class ShardContainers:
    """The shard's source and destination containers and their accounts' service clients."""

    src_svc: BlobServiceClient
    dst_svc: BlobServiceClient
    src_cc: ContainerClient
    dst_cc: ContainerClient

    @classmethod
    def open(cls, factory: ClientFactory, job: ShardJob) -> ShardContainers:
        pool = max(64, job.concurrency * 2)  # connections: as wide as the copy threads, and then some
        src_svc = factory.blob_service(job.source_account, pool)
        dst_svc = factory.blob_service(job.dest_account, pool)
        return cls(
            src_svc,
            dst_svc,
            src_svc.get_container_client(job.container),
            dst_svc.get_container_client(job.dest_container or job.container),
        )


def known_secrets(factory: ClientFactory) -> list[str]:
    """Secrets that may turn up in a service message besides SAS tokens: the sandbox's account
    keys (Azure: none; Entra tokens never appear in storage errors)."""
    if not factory.is_sandbox:
        return []
    accounts = factory.sandbox_env.get("storage_accounts", {})
    return [a.get("key", "") for a in accounts.values()]


def dest_conditions(dst: BlobEntry | None) -> dict[str, Any]:
    """Write only over the destination version that was listed (or only where none existed), so a
    writer active during the run never loses a write to a replication's overwrite."""
    if dst is None:
        return {"match_condition": MatchConditions.IfMissing}
    return {"etag": dst.etag, "match_condition": MatchConditions.IfNotModified}


def content_settings_of(entry: BlobEntry, md5: bytes | None) -> ContentSettings:
    return ContentSettings(content_md5=md5, **entry.content_settings())


def standard_tier(entry: BlobEntry) -> StandardBlobTier | None:
    """The entry's access tier to set on the destination; None for Archive or unknown tiers."""
    if not entry.tier or entry.tier == ARCHIVE:
        return None
    try:
        return StandardBlobTier(entry.tier)
    except ValueError:
        return None


def error_code(exc: BaseException) -> str | None:
    return getattr(exc, "error_code", None) or getattr(getattr(exc, "response", None), "reason", None)


def describe_error(exc: BaseException) -> str:
    """One line, no secrets: the class, status, error code and the first line of the message."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    head = type(exc).__name__ + (f" {status}" if status else "") + (f" {code}" if code else "")
    return redact_text(f"{head}: {first}")


def ensure_container(service: BlobServiceClient, name: str) -> None:
    with contextlib.suppress(ResourceExistsError):
        service.create_container(name)


def hash_blob(cc: Any, name: str, etag: str | None = None) -> str:
    """MD5 of a blob's content, streamed (never the whole blob in memory); with ``etag``, of
    that version only (a newer one fails the read instead of being hashed)."""
    kwargs: dict[str, Any] = {}
    if etag:
        kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in cc.get_blob_client(name).download_blob(**kwargs).chunks():
        digest.update(chunk)
    return digest.hexdigest()
