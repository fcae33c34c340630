"""Evidence bundles in Azure: ``foundry-dr/evidence/<plan>/<runbook>/<started>-<run id>.json``
and ``.html`` in the secondary's account, write-once.

The secondary's account is the region a failover goes to, where the lock and the drill history
live: the evidence of a cut-over survives the primary. Each blob is written only if none exists
(If-None-Match ``*``), so a bundle is never replaced; when the container has version-level
immutability enabled (``immutable_storage_with_versioning_enabled``), each blob also gets an
unlocked time-based retention policy. No account key or SAS is used or stored: the client
factory's credential writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobImmutabilityPolicyMode, ContentSettings, ImmutabilityPolicy

from foundry_dr.checkpoint import Checkpoint, checkpoint_prefix
from foundry_dr.evidence import EvidenceBundle, bundle_prefix
from foundry_dr.retry import QUICK_RETRY
from foundry_dr.state_layout import STATE_CONTAINER
from foundry_dr.stores.records import describe_failure

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from foundry_dr.clients import ClientFactory

RETENTION_DAYS = 365  # immutability policy (only where the container supports it)


def _service(factory: ClientFactory) -> BlobServiceClient:
    return factory.blob_service(factory.plan.secondary.storage_account)


def write_evidence(factory: ClientFactory, bundle: EvidenceBundle, html: str,
                   retention_days: int = RETENTION_DAYS) -> dict[str, Any]:
    """Write the bundle's JSON, then its HTML, each only if absent. What was written: the blob
    paths (in the ``foundry-dr`` container of the secondary's account) and the immutability
    outcome. Raises on a failed write (the caller records it and carries on); an existing blob
    is :class:`ResourceExistsError` (a bundle is never overwritten)."""
    service = _service(factory)
    container = service.get_container_client(STATE_CONTAINER)
    stem = bundle.blob_stem()
    written = {"account": factory.plan.secondary.storage_account, "container": STATE_CONTAINER,
               "json": f"{stem}.json", "html": f"{stem}.html"}  # fmt: skip
    docs = ((written["json"], bundle.model_dump_json(indent=1).encode(), "application/json"),
            (written["html"], html.encode(), "text/html; charset=utf-8"))  # fmt: skip
    for name, data, content_type in docs:
        _put_once(container, name, data, content_type)
    written["immutability"] = _protect(container, [written["json"], written["html"]], retention_days)
    return written


def _put_once(container: Any, name: str, data: bytes, content_type: str) -> None:
    settings = ContentSettings(content_type=content_type)
    for attempt in (1, 2):
        try:
            container.upload_blob(name, data, overwrite=False, content_settings=settings, **QUICK_RETRY)
            return
        except ResourceExistsError:
            raise
        except ResourceNotFoundError:  # the container does not exist yet
            if attempt == 2:
                raise
            try:
                container.create_container()
            except ResourceExistsError:
                pass


def _protect(container: Any, names: list[str], retention_days: int) -> str:
    """Set a retention policy on each blob when the container allows it; never raises."""
    try:
        props = container.get_container_properties(**QUICK_RETRY)
    except AzureError as exc:
        return f"not checked ({describe_failure(exc)})"
    if not getattr(props, "immutable_storage_with_versioning_enabled", False):
        return "not available (the container has no version-level immutability); written once (If-None-Match *)"
    until = datetime.now(UTC) + timedelta(days=retention_days)
    policy = ImmutabilityPolicy(expiry_time=until, policy_mode=BlobImmutabilityPolicyMode.Unlocked)
    try:
        for name in names:
            container.get_blob_client(name).set_immutability_policy(policy, **QUICK_RETRY)
    except AzureError as exc:
        return f"not set ({describe_failure(exc)}); written once (If-None-Match *)"
    return f"retention policy until {until.date().isoformat()} (unlocked)"


def read_evidence(factory: ClientFactory, path: str) -> dict[str, Any]:
    """One bundle's JSON, by its path in the container."""
    blob = _service(factory).get_blob_client(STATE_CONTAINER, path)
    return json.loads(blob.download_blob(**QUICK_RETRY).readall())


def list_evidence(factory: ClientFactory, runbook: str | None = None) -> list[str]:
    """The paths of the plan's bundles (JSON), oldest first."""
    container = _service(factory).get_container_client(STATE_CONTAINER)
    prefix = bundle_prefix(factory.plan.name, runbook) + "/"
    try:
        return sorted(b.name for b in container.list_blobs(name_starts_with=prefix) if b.name.endswith(".json"))
    except ResourceNotFoundError:
        return []


def read_checkpoint_history(factory: ClientFactory, since: datetime, limit: int = 24,
                            direction: str = "to-secondary") -> list[tuple[datetime, datetime]]:
    """``(completed_at, recovery point)`` of the newest ``limit`` checkpoints completed since
    ``since``, from the secondary's account (where the replication towards it writes them)."""
    container = _service(factory).get_container_client(STATE_CONTAINER)
    prefix = checkpoint_prefix(factory.plan.name) + "/"
    names = []
    try:
        for b in container.list_blobs(name_starts_with=prefix):
            stem = b.name.removeprefix(prefix)
            if not stem.endswith(f"-{direction}.json") or stem.startswith("latest"):
                continue
            try:
                completed = datetime.strptime(stem[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            if completed >= since:
                names.append((completed, b.name))
    except ResourceNotFoundError:
        return []
    out = []
    for _, name in sorted(names)[-limit:]:
        try:
            data = container.get_blob_client(name).download_blob(**QUICK_RETRY).readall()
            checkpoint = Checkpoint.model_validate_json(data)
        except (AzureError, ValueError):
            continue
        out.append((checkpoint.completed_at, checkpoint.point))
    return out
