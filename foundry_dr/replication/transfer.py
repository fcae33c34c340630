"""Moving one blob's bytes: server-side copy (with the source's SAS) or a streaming copy through
this process, then the check that the destination holds the source's bytes (MD5).

Every write is conditional on the destination version that was listed (or on there being none),
and every read of the source on the version that was listed: a writer active during the run never
loses a write, and a source that changes mid-copy is re-read, never half-copied. The transfer mode
is decided per blob: one refused server-side copy says nothing about the other blobs.

Secrets: the source URL of a server-side copy carries the SAS; errors leave this module only as
exceptions whose text is redacted (:func:`~foundry_dr.replication.blobs.describe_error`) before the
engine reports it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobType, StandardBlobTier

from foundry_dr.blob_sync import ARCHIVE, BlobEntry
from foundry_dr.replication.blobs import (
    ShardContainers,
    content_settings_of,
    describe_error,
    dest_conditions,
    error_code,
    hash_blob,
    standard_tier,
)
from foundry_dr.replication.job import DestinationChanged, ShardJob
from foundry_dr.replication.listing import entry_from
from foundry_dr.retry import PermanentError, TransientError

if TYPE_CHECKING:
    from foundry_dr.replication.sas import SourceSas

log = logging.getLogger("foundry_dr.replication")

SYNC_COPY_LIMIT = 256 * 1024 * 1024  # Copy Blob From URL (synchronous) handles blobs up to this
COPY_STALL_SECONDS = 300.0
# Server-side copy refused for reasons a streaming copy avoids (source not reachable from the
# destination's service, e.g. network rules, another cloud, or an emulator across instances).
# Decided per blob, never per account pair: one refused blob says nothing about the others.
REFUSED_CODES = {"CannotVerifyCopySource", "FeatureNotSupported", "APINotImplemented", "NotImplemented"}

DEFERRED = "<deferred>"  # the copy succeeded; its check waits for the verification listing


class BlobTransfer:
    """Copies single blobs of one shard; thread-safe (its methods run in the copy threads)."""

    def __init__(self, job: ShardJob, containers: ShardContainers, sas: SourceSas) -> None:
        self.job = job
        self.src_cc = containers.src_cc
        self.dst_cc = containers.dst_cc
        self.sas = sas

    def mode(self) -> str:
        return "streaming" if self.job.transfer == "streaming" else "server-side"

    def _fall_back(self, src: BlobEntry, exc: BaseException) -> None:
        """Server-side copy of this one blob was refused: stream it (auto), or fail it."""
        if self.job.transfer != "auto":
            raise PermanentError(
                f"{self.job.container}/{src.name}: server-side copy refused from {self.job.source_account} to "
                f"{self.job.dest_account} ({describe_error(exc)}); set replication.transfer to 'auto' or 'streaming'"
            ) from None
        log.info("%s/%s: server-side copy refused (%s); streaming it", self.job.container, src.name,
                 describe_error(exc))  # fmt: skip

    def source_exists(self, src: BlobEntry) -> bool:
        try:
            self.src_cc.get_blob_client(src.name).get_blob_properties()
            return True
        except ResourceNotFoundError:
            return False

    def copy_once(
        self, src: BlobEntry, dst: BlobEntry | None, defer: bool = False
    ) -> tuple[BlobEntry, str | None, str]:
        """(source as copied, verified MD5 hex or None on mismatch or :data:`DEFERRED`, transfer used)."""
        for _ in range(3):  # the source may change between listing and copy: refresh and retry
            try:
                if self.mode() == "server-side":
                    try:
                        return src, self._server_copy(src, dst, defer), "server-side"
                    except HttpResponseError as exc:
                        if error_code(exc) in REFUSED_CODES and self.source_exists(src):
                            self._fall_back(src, exc)
                        else:
                            raise
                return src, self._stream_copy(src, dst), "streaming"
            except HttpResponseError as exc:
                if exc.status_code == 412 or error_code(exc) == "BlobAlreadyExists":
                    # a source or a destination condition failed: tell which by the source's ETag
                    fresh = entry_from(self.src_cc.get_blob_client(src.name).get_blob_properties())
                    if fresh.etag == src.etag:
                        raise DestinationChanged(
                            f"{self.job.container}/{src.name}: the destination changed after it was listed; "
                            "it was not overwritten (the retry decides again)"
                        ) from None
                    src = fresh
                    if src.tier == ARCHIVE:
                        raise PermanentError(f"{self.job.container}/{src.name}: archived during the run") from None
                    continue
                raise
        raise TransientError(f"{self.job.container}/{src.name}: the source kept changing during the copy")

    def _server_copy(self, src: BlobEntry, dst_expect: BlobEntry | None, defer: bool = False) -> str | None:
        """Copy Blob From URL (synchronous) for block blobs up to its size limit; async Copy Blob
        for larger ones and for append and page blobs, which the synchronous API refuses (409
        CannotVerifyCopySource) and the async one copies keeping their type."""
        dst = self.dst_cc.get_blob_client(src.name)
        url = f"{self.src_cc.get_blob_client(src.name).url}?{self.sas.token()}"
        kwargs: dict[str, Any] = {
            "metadata": src.metadata or None,
            "source_etag": src.etag,
            "source_match_condition": MatchConditions.IfNotModified,
            **dest_conditions(dst_expect),
        }
        tier = standard_tier(src)
        if tier is not None and tier != StandardBlobTier.HOT and src.is_block_blob:
            # Hot is every account's usual default; a differing default is fixed after the copy
            kwargs["standard_blob_tier"] = tier
        sync = src.size <= SYNC_COPY_LIMIT and src.is_block_blob
        if sync:
            # synchronous Copy Blob From URL: no polling; the service checks the source MD5
            kwargs["requires_sync"] = True
        for attempt in range(3):
            result = dst.start_copy_from_url(url, **kwargs)
            status = result.get("copy_status")
            if status == "success":
                break
            if self._wait_copy(dst, str(result.get("copy_id"))):
                break
            log.warning(
                "%s/%s: copy failed or stalled (attempt %d); retrying",
                self.job.container,
                src.name,
                attempt + 1,
            )
            # the failed copy left a destination of ours: overwrite only that one
            kwargs.update(dest_conditions(entry_from(dst.get_blob_properties())))
        else:
            raise TransientError(f"{self.job.container}/{src.name}: server-side copy kept failing")
        if defer and src.content_md5 and self.job.verify == "changed":
            return DEFERRED
        return self.verify_dest(src, dst)

    def _wait_copy(self, dst: Any, copy_id: str) -> bool:
        """Poll a pending copy with back-off; abort it if it stalls. True on success."""
        delay, last_progress, since = 0.2, None, time.monotonic()
        while True:
            props = dst.get_blob_properties()
            status = props.copy.status
            if status == "success":
                return True
            if status in ("failed", "aborted"):
                return False
            if props.copy.progress != last_progress:
                last_progress, since = props.copy.progress, time.monotonic()
            elif time.monotonic() - since > COPY_STALL_SECONDS:
                with contextlib.suppress(HttpResponseError):
                    dst.abort_copy(copy_id)
                return False
            time.sleep(delay)
            delay = min(delay * 1.6, 5.0)

    def _stream_copy(self, src: BlobEntry, dst_expect: BlobEntry | None) -> str | None:
        """Download the listed source version and upload it with the SDK's ``upload_blob``, which
        cuts it into blocks (pages, appended blocks) each sent with a transactional MD5
        (``validate_content``); blobs keep their type. Hashed on the way through."""
        dst = self.dst_cc.get_blob_client(src.name)
        cond = dest_conditions(dst_expect)
        down = self.src_cc.get_blob_client(src.name).download_blob(
            etag=src.etag, match_condition=MatchConditions.IfNotModified
        )
        digest = hashlib.md5(usedforsecurity=False)

        def chunks() -> Iterator[bytes]:
            for chunk in down.chunks():
                digest.update(chunk)
                yield chunk

        # one request at a time per blob: the shard's threads are the concurrency, and upload_blob
        # drops its access conditions when it uploads in parallel
        sent: dict[str, Any] = {"length": src.size, "validate_content": True, "max_concurrency": 1}
        # upload_blob's write condition: without overwrite it sends If-None-Match: * itself (only
        # where none existed); over a listed version, If-Match its ETag
        written: dict[str, Any] = {"overwrite": False} if dst_expect is None else {"overwrite": True, **cond}
        # without a source MD5 the destination's is recorded by verify_dest, once the bytes are hashed
        settings = content_settings_of(src, src.content_md5)
        if src.is_block_blob:
            dst.upload_blob(chunks(), metadata=src.metadata, content_settings=settings,
                            standard_blob_tier=standard_tier(src), **sent, **written)  # fmt: skip
        elif src.blob_type == "PageBlob":
            # the SDK creates the page blob under the condition, then writes its pages on the ETag
            # of that creation, and skips all-zero pages (a page blob's unwritten default)
            dst.upload_blob(chunks(), blob_type=BlobType.PAGEBLOB, metadata=src.metadata, content_settings=settings,
                            **sent, **written)  # fmt: skip
        else:
            # append blob: created here under the condition, because upload_blob would repeat the
            # condition on every appended block (and creates nothing for an empty blob); then its
            # blocks are appended, each at its expected position
            dst.create_append_blob(content_settings=settings, metadata=src.metadata, **cond)
            dst.upload_blob(chunks(), blob_type=BlobType.APPENDBLOB, overwrite=False, **sent)
        computed = digest.hexdigest()
        if src.content_md5 and src.content_md5.hex() != computed:
            return None  # the bytes read do not match the source's MD5: re-copy
        return self.verify_dest(src, dst, streamed_md5=computed)

    def verify_dest(self, src: BlobEntry, dst: Any, streamed_md5: str | None = None) -> str | None:
        """Destination MD5 == source MD5 (hashing both when the source has none, then recording
        it on the destination); properties and tier reconciled. None on mismatch."""
        props = dst.get_blob_properties()
        got = entry_from(props)
        if got.size != src.size:
            return None
        want = src.md5_hex or streamed_md5
        if want is None:  # server-side copy of a blob without MD5: hash both sides
            want = hash_blob(self.src_cc, src.name, src.etag)
            if hash_blob(self.dst_cc, src.name, got.etag) != want:
                return None
        if got.md5_hex is not None and got.md5_hex != want:
            return None
        if self.job.verify == "all" and streamed_md5 is None and hash_blob(self.dst_cc, src.name, got.etag) != want:
            return None
        if got.md5_hex is None or not src.same_properties(got):
            dst.set_http_headers(content_settings_of(src, bytes.fromhex(want)))
        if dict(got.metadata) != dict(src.metadata):
            dst.set_blob_metadata(src.metadata)
        tier = standard_tier(src)
        if tier is not None and got.tier != src.tier:
            dst.set_standard_blob_tier(tier)
        return want
