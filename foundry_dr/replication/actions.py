"""Carrying out one diff action on one blob (copy, confirm, keep a conflict copy, update
properties, re-verify, delete) and what came of it (:class:`Outcome`).

The decisions come from :mod:`foundry_dr.blob_sync`; this module only carries them out, never
over a destination version other than the one listed. :meth:`BlobActions.guarded` is where a
blob's exception becomes a failed outcome, classified transient or not, its text redacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from foundry_dr.blob_sync import Action, ActionKind, BlobEntry, failback_action
from foundry_dr.redact import redact_text
from foundry_dr.replication.blobs import (
    ShardContainers,
    content_settings_of,
    describe_error,
    dest_conditions,
    ensure_container,
    hash_blob,
    standard_tier,
)
from foundry_dr.replication.job import DestinationChanged, ShardJob
from foundry_dr.replication.listing import entry_from
from foundry_dr.replication.transfer import DEFERRED, BlobTransfer
from foundry_dr.retry import PermanentError, is_transient
from foundry_dr.state_layout import STATE_CONTAINER

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

log = logging.getLogger("foundry_dr.replication")


@dataclass
class Outcome:
    kind: str  # copied | updated | skipped | kept | deleted | vanished | archived | failed
    md5_hex: str | None = None
    nbytes: int = 0
    error: str | None = None
    transient: bool = False
    transfer: str | None = None
    deferred: BlobEntry | None = None  # copied; verified in bulk at the end of the shard


class BlobActions:
    """The per-blob operations of one shard; thread-safe (they run in the copy threads)."""

    def __init__(self, job: ShardJob, containers: ShardContainers, transfer: BlobTransfer, secrets: list[str]) -> None:
        self.job = job
        self.dst_svc = containers.dst_svc
        self.src_cc = containers.src_cc
        self.dst_cc = containers.dst_cc
        self.transfer = transfer
        self.secrets = secrets

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def guarded(self, fn: Callable[[Action], Outcome], action: Action) -> Outcome:
        """Run one blob operation; turn its exception into a failed outcome (no secrets)."""
        try:
            return fn(action)
        except Exception as exc:  # noqa: BLE001 - one blob's failure, of any kind, is classified and reported
            return Outcome("failed", error=self.redact(describe_error(exc)), transient=is_transient(exc))

    def copy(self, src: BlobEntry, dst: BlobEntry | None, defer: bool = True) -> Outcome:
        """Copy and verify one blob over the listed destination version ``dst`` (None: there was
        none), never over another; re-copy once on a mismatch; a persistent one is permanent.
        With ``defer`` a server-side copy of a blob with an MD5 is verified later, in bulk, from
        a listing of the destination (one request per 5,000 blobs instead of one per blob)."""
        for attempt in (1, 2):
            try:
                src, md5_hex, transfer = self.transfer.copy_once(src, dst, defer and attempt == 1)
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) in ("BlobNotFound", None) and not self.transfer.source_exists(src):
                    return Outcome("vanished", error="deleted from the source during the run")
                raise
            if md5_hex == DEFERRED:
                return Outcome("copied", src.md5_hex, src.size, transfer=transfer, deferred=src)
            if md5_hex is not None:
                return Outcome("copied", md5_hex, src.size, transfer=transfer)
            log.warning("%s/%s: MD5 mismatch after copy attempt %d", self.job.container, src.name, attempt)
            dst = entry_from(self.dst_cc.get_blob_client(src.name).get_blob_properties())  # our own copy
        raise PermanentError(
            f"{self.job.container}/{src.name}: destination MD5 differs from the source after a re-copy"
        )

    def recopy(self, action: Action) -> Outcome:
        """Copy again, verified per blob (after the bulk verification found a mismatch)."""
        assert action.source is not None
        return self.copy(action.source, action.dest, defer=False)

    def copy_or_confirm(self, action: Action) -> Outcome:
        """Copy, unless the destination has the same size and only an MD5 is missing on one
        side: then hash the side(s) without one, and if the bytes are equal record the MD5 on
        the destination instead of copying (and of overwriting the destination). A conflict
        first keeps the version that will not be live (see ``failback_action``)."""
        src, dst = action.source, action.dest
        assert src is not None
        if action.keep_source_as:
            md5_hex = self.keep_copy(self.src_cc, src, action.keep_source_as)
            return Outcome("kept", md5_hex, src.size)
        if action.keep_dest_as and dst is not None:
            self.keep_copy(self.dst_cc, dst, action.keep_dest_as)
        if dst is not None and dst.size == src.size and (src.content_md5 is None or dst.content_md5 is None):
            want = src.md5_hex or hash_blob(self.src_cc, src.name, src.etag)
            got = dst.md5_hex or hash_blob(self.dst_cc, dst.name, dst.etag)
            if want == got:
                if dst.content_md5 is None or not src.same_properties(dst):
                    client = self.dst_cc.get_blob_client(src.name)
                    client.set_http_headers(content_settings_of(src, bytes.fromhex(want)), **dest_conditions(dst))
                    if dict(src.metadata) != dict(dst.metadata):
                        client.set_blob_metadata(src.metadata)
                return Outcome("skipped", want)
        return self.copy(src, dst)

    def keep_copy(self, cc: ContainerClient, version: BlobEntry, keep_as: str) -> str:
        """Save ``version`` of a blob of ``cc`` (source or destination) under ``keep_as`` in the
        destination account's state container, verified by MD5; the MD5 hex. Named per version,
        so an existing copy is this very version, kept by an earlier attempt. Streamed (conflicts
        are rare) and conditional on the version, so it is exactly the one that was listed."""
        target = self.dst_svc.get_blob_client(STATE_CONTAINER, keep_as)
        with contextlib.suppress(ResourceNotFoundError):
            kept = target.get_blob_properties()
            return kept.content_settings.content_md5.hex() if kept.content_settings.content_md5 else ""
        ensure_container(self.dst_svc, STATE_CONTAINER)
        try:
            downloader = cc.get_blob_client(version.name).download_blob(
                etag=version.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise DestinationChanged(
                    f"{self.job.container}/{version.name}: changed while its conflict copy "
                    "was being kept; nothing overwritten"
                ) from None
            raise
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks() -> Iterator[bytes]:
            for chunk in downloader.chunks():
                md5.update(chunk)
                yield chunk

        origin = quote(f"{cc.account_name}/{cc.container_name}/{version.name}", safe="/")
        target.upload_blob(
            chunks(),
            overwrite=False,
            metadata={**version.metadata, "foundry_dr_conflict_of": origin},
            content_settings=content_settings_of(version, version.content_md5),
        )
        if version.content_md5 and md5.digest() != version.content_md5:
            raise PermanentError(f"conflict copy {keep_as} does not match {version.name}; nothing was replaced")
        return md5.hexdigest()

    def update_properties(self, action: Action) -> Outcome:
        src, dst = action.source, action.dest
        assert src is not None and dst is not None
        client = self.dst_cc.get_blob_client(src.name)
        if not src.same_properties(dst):
            client.set_http_headers(content_settings_of(src, dst.content_md5 or src.content_md5))
            if dict(src.metadata) != dict(dst.metadata):
                client.set_blob_metadata(src.metadata)
        tier = standard_tier(src)
        if tier is not None and src.tier != dst.tier:
            client.set_standard_blob_tier(tier)
        return Outcome("updated", src.md5_hex or action.checkpoint_md5)

    def verify_skipped(self, action: Action) -> Outcome:
        """verify="all": re-hash the destination of an unchanged blob; on a mismatch re-copy it,
        except in fail-back (``since``), where a differing destination goes through the same
        rules as any other action: a version written there after the recovery point is kept."""
        src, dst = action.source, action.dest
        assert src is not None and dst is not None
        want = src.md5_hex or action.checkpoint_md5 or hash_blob(self.src_cc, src.name, src.etag)
        if hash_blob(self.dst_cc, src.name, dst.etag) == want:
            return Outcome("skipped", want)
        differs = Action(ActionKind.COPY, src.name, src, dst, "destination content differs from the source")
        if self.job.since is not None:
            differs = failback_action(differs, self.job.since, self.job.conflict_policy, self.job.dest_side,
                                      self.job.dest_container or self.job.container,
                                      self.job.source_since)  # fmt: skip
            if differs.kind is ActionKind.SKIP:
                return Outcome("kept")
        log.warning("%s/%s: destination content differs from the source; re-copying", self.job.container, src.name)
        return self.copy_or_confirm(differs)

    def delete(self, action: Action) -> Outcome:
        """Delete the listed destination version only (a newer write by someone else stays)."""
        assert action.dest is not None
        try:
            self.dst_cc.get_blob_client(action.name).delete_blob(
                delete_snapshots="include", **dest_conditions(action.dest)
            )
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise DestinationChanged(
                    f"{self.job.container}/{action.name}: changed after it was listed; not deleted"
                ) from None
            raise
        return Outcome("deleted")
