"""The engine of one blob shard: stream both listings, diff, copy, verify, checkpoint.

No Prefect here: ``tasks/storage.py`` wraps :func:`run_shard` in a task (one per shard). The
decisions come from :mod:`foundry_dr.blob_sync`; this module only talks to Azure Storage.

Memory stays flat at any blob count: listings are fetched page by page by two background
threads into small bounded queues, the diff is a streaming merge-join, copies go through a
bounded window of futures (which also keeps the checkpoint in name order), and the checkpoint
is spooled to a temporary file and uploaded at the end.

Secrets: every copy uses a read-only SAS on the source. Nothing that can carry it (URLs,
service messages) leaves this module without :func:`foundry_dr.redact.redact_text`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    ContainerSasPermissions,
    ContentSettings,
    StandardBlobTier,
    generate_container_sas,
)

from foundry_dr.blob_sync import (
    ARCHIVE,
    CLOCK_MARGIN,
    STATE_CONTAINER,
    UNCHANGED,
    Action,
    ActionKind,
    BlobEntry,
    Shard,
    ShardCounts,
    apply_since,
    blob_excluded,
    diff_sorted,
    failback_action,
)
from foundry_dr.redact import redact_text
from foundry_dr.retry import PermanentError, TransientError, is_transient

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from foundry_dr.clients import ClientFactory

log = logging.getLogger("foundry_dr.blob_copier")

CHECKPOINT_CONTAINER = STATE_CONTAINER
CHECKPOINT_PREFIX = "blob-checkpoints"
PAGE_SIZE = 5000  # List Blobs maximum
SYNC_COPY_LIMIT = 256 * 1024 * 1024  # Copy Blob From URL (synchronous) handles blobs up to this
STREAM_BLOCK = 4 * 1024 * 1024
SINGLE_PUT_LIMIT = 4 * 1024 * 1024
SAS_LIFETIME = timedelta(hours=1)
SAS_RENEW_BEFORE = timedelta(minutes=15)
COPY_STALL_SECONDS = 300.0
MAX_FAILURE_SAMPLES = 50
SAMPLES_PER_KIND = 10
# Server-side copy refused for reasons a streaming copy avoids (source not reachable from the
# destination's service, e.g. network rules, another cloud, or an emulator across instances).
# Decided per blob, never per account pair: one refused blob says nothing about the others.
REFUSED_CODES = {"CannotVerifyCopySource", "FeatureNotSupported", "APINotImplemented", "NotImplemented"}
MAX_CONFLICT_COPIES = 1000  # listed in the report; the count is always exact

Transfer = Literal["server-side", "streaming", "auto"]
Verify = Literal["changed", "all"]

_DRY_RUN_OUTCOME = {
    ActionKind.COPY: "copied",
    ActionKind.DELETE: "deleted",
    ActionKind.UPDATE_PROPERTIES: "updated",
}


@dataclass(frozen=True)
class ShardJob:
    """Everything one shard needs; picklable, so a distributed task runner can ship it."""

    source_account: str
    dest_account: str
    container: str
    shard: Shard
    dry_run: bool = False
    verify: Verify = "changed"
    mirror_deletes: bool = False
    transfer: Transfer = "auto"
    concurrency: int = 16
    excludes: tuple[str, ...] = ()
    dest_container: str | None = None  # the destination datastore's container, when it differs
    since: datetime | None = None  # fail-back: the recovery point (destination writes after it are kept)
    source_since: datetime | None = None  # fail-back: when replication last wrote into the source
    clock_margin_seconds: float = CLOCK_MARGIN.total_seconds()  # the listing time is taken this much earlier
    conflict_policy: str = "keep-both"
    dest_side: str = "primary"

    def __str__(self) -> str:  # task run names
        return f"{self.source_account}/{self.container}[{self.shard.id[:8]}]"


@dataclass
class ShardResult:
    """What a shard did. The per-blob checkpoint map is not returned (it grows with the blob
    count); it is written to ``checkpoint_blob`` in the destination account."""

    source_account: str
    dest_account: str
    container: str
    shard_id: str
    shard: str
    dry_run: bool
    counts: ShardCounts = field(default_factory=ShardCounts)
    seconds: float = 0.0
    transfer: str = "server-side"
    checkpoint_blob: str | None = None
    checkpoint_entries: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    # when the source listing started: every source write after it may be missing from this
    # run, so it (not the run's end) is the shard's recovery point
    listed_at: datetime | None = None
    conflict_copies: list[str] = field(default_factory=list)  # account/container/path of kept versions
    unprotected: list[str] = field(default_factory=list)  # name: reason, for blobs left uncopied

    def sample(self, kind: str, text: str) -> None:
        bucket = self.samples.setdefault(kind, [])
        if len(bucket) < SAMPLES_PER_KIND:
            bucket.append(text)


class ShardFailed(Exception):
    """Base of a shard's failures; carries the partial result for the report."""

    def __init__(self, message: str, result: ShardResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class TransientShardFailure(ShardFailed, TransientError):
    """Some blobs failed for reasons a retry of the shard may fix (throttling, 5xx, outage)."""


class PermanentShardFailure(ShardFailed, PermanentError):
    """Some blobs failed for reasons a retry will not fix (verification, permissions)."""


class DestinationChanged(TransientError):
    """The destination blob changed after it was listed (another writer): it was not overwritten;
    the shard's retry lists it again and decides anew."""


@dataclass
class _Outcome:
    kind: str  # copied | updated | skipped | kept | deleted | vanished | failed
    md5_hex: str | None = None
    nbytes: int = 0
    error: str | None = None
    transient: bool = False
    transfer: str | None = None
    deferred: BlobEntry | None = None  # copied; verified in bulk at the end of the shard


DEFERRED = "<deferred>"  # the copy succeeded; its check waits for the verification listing


# ---- helpers -------------------------------------------------------------------------------
def entry_from(props: Any) -> BlobEntry:
    """A listing item (or get_blob_properties result) as a :class:`BlobEntry`."""
    cs = props.content_settings
    tier = props.blob_tier
    return BlobEntry(
        name=props.name,
        size=int(props.size or 0),
        etag=props.etag,
        content_md5=bytes(cs.content_md5) if cs.content_md5 else None,
        last_modified=props.last_modified,
        tier=getattr(tier, "value", tier),
        content_type=cs.content_type,
        content_encoding=cs.content_encoding,
        content_language=cs.content_language,
        content_disposition=cs.content_disposition,
        cache_control=cs.cache_control,
        metadata=dict(props.metadata or {}),
        blob_type=getattr(props.blob_type, "value", props.blob_type),
    )


def dest_conditions(dst: BlobEntry | None) -> dict[str, Any]:
    """Write only over the destination version that was listed (or only where none existed), so a
    writer active during the run never loses a write to a replication's overwrite."""
    if dst is None:
        return {"match_condition": MatchConditions.IfMissing}
    return {"etag": dst.etag, "match_condition": MatchConditions.IfNotModified}


def content_settings_of(entry: BlobEntry, md5: bytes | None) -> ContentSettings:
    return ContentSettings(content_md5=md5, **entry.content_settings())


def _tier(entry: BlobEntry) -> StandardBlobTier | None:
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


def _prefetch(produce: Callable[[], Iterator[BlobEntry]], depth: int = 2) -> Iterator[BlobEntry]:
    """Run a listing in a background thread, ``depth`` pages ahead: source and destination are
    listed in parallel and overlap with copying, and at most a few pages are ever in memory."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def worker() -> None:
        batch: list[BlobEntry] = []
        try:
            for item in produce():
                batch.append(item)
                if len(batch) >= PAGE_SIZE:
                    while not stop.is_set():
                        try:
                            q.put(batch, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    batch = []
                if stop.is_set():
                    return
            q.put(batch)
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=worker, daemon=True, name="blob-listing")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()


def checkpoint_path(source_account: str, container: str, shard: Shard) -> str:
    return f"{CHECKPOINT_PREFIX}/{source_account}/{container}/{shard.id}.jsonl"


def checkpointed_blob_count(dest: BlobServiceClient, source_account: str, container: str) -> int | None:
    """How many source blobs the last run's whole-container shard saw (None if unknown): lets
    the shard planner skip its listing for containers that were small last time."""
    path = checkpoint_path(source_account, container, Shard())
    try:
        # one quick attempt: this is an optimisation, not worth the SDK's retry back-off
        props = dest.get_blob_client(CHECKPOINT_CONTAINER, path).get_blob_properties(retry_total=0)
    except ResourceNotFoundError:
        return None
    value = (props.metadata or {}).get("blobs")
    return int(value) if value and value.isdigit() else None


class _Checkpoint:
    """The shard's checkpoint blob: a name-sorted JSON-lines file of [name, etag, md5_hex]
    for every blob verified in place, in the destination account (container ``foundry-dr``)."""

    def __init__(self, dest: BlobServiceClient, source_account: str, container: str, shard: Shard) -> None:
        self.path = checkpoint_path(source_account, container, shard)
        self.client = dest.get_blob_client(CHECKPOINT_CONTAINER, self.path)
        self.file = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        self.entries = 0
        self.unchanged = 0  # entries carried over as they were
        self.previous: int | None = None  # entries in the previous checkpoint

    def read(self) -> Iterator[tuple[str, ...]]:
        """The previous run's records, streamed; nothing if there is none."""
        try:
            stream = self.client.download_blob()
        except ResourceNotFoundError:
            return
        value = (stream.properties.metadata or {}).get("entries", "")
        self.previous = int(value) if value.isdigit() else None
        rest = b""
        for chunk in stream.chunks():
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line:
                    yield tuple(json.loads(line))
        if rest.strip():
            yield tuple(json.loads(rest))

    def add(self, name: str, etag: str, md5_hex: str | None, carried_over: bool = False) -> None:
        self.file.write(json.dumps([name, etag, md5_hex or ""]).encode() + b"\n")
        self.entries += 1
        self.unchanged += carried_over

    def save(self, blobs_seen: int, leave_out: set[str] | None = None) -> bool:
        """Upload, unless every record was carried over unchanged (a no-change run writes
        nothing); records of ``leave_out`` (not verified) are dropped. True if uploaded."""
        try:
            if self.previous is not None and self.unchanged == self.entries == self.previous:
                return False
            self.file.seek(0)
            if leave_out:
                kept = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
                for line in self.file:
                    if json.loads(line)[0] not in leave_out:
                        kept.write(line)
                    else:
                        self.entries -= 1
                self.file.close()
                self.file = kept
                self.file.seek(0)
            self.client.upload_blob(
                self.file,
                overwrite=True,
                content_settings=ContentSettings("application/jsonl"),
                metadata={"entries": str(self.entries), "blobs": str(blobs_seen)},
            )
            return True
        finally:
            self.file.close()


def ensure_container(service: BlobServiceClient, name: str) -> None:
    with contextlib.suppress(ResourceExistsError):
        service.create_container(name)


def list_entries(cc: ContainerClient, shard: Shard, excludes: tuple[str, ...], missing_ok: bool) -> Iterator[BlobEntry]:
    """The shard's blobs, name-sorted: its parts are disjoint and in order, so listing them one
    after the other keeps the order. Excluded ``container/path`` blobs are left out."""
    container = cc.container_name
    try:
        for part in shard.parts:
            pages = cc.list_blobs(
                name_starts_with=part.prefix or None, include=["metadata"], results_per_page=PAGE_SIZE
            )
            for props in pages:
                if part.exact and props.name != part.prefix:
                    if props.name > part.prefix:
                        break
                    continue
                if excludes and blob_excluded(container, props.name, excludes):
                    continue
                yield entry_from(props)
    except ResourceNotFoundError:
        if not missing_ok:
            raise


# ---- the shard -----------------------------------------------------------------------------
class ShardCopier:
    """Copies one shard. One instance per shard run; its methods run in the copy threads."""

    def __init__(self, factory: ClientFactory, job: ShardJob) -> None:
        self.factory = factory
        self.job = job
        pool = max(64, job.concurrency * 2)
        self.src_svc = factory.blob_service(job.source_account, pool)
        self.dst_svc = factory.blob_service(job.dest_account, pool)
        self.src_cc = self.src_svc.get_container_client(job.container)
        self.dst_cc = self.dst_svc.get_container_client(job.dest_container or job.container)
        self._sas: tuple[str, datetime] | None = None
        self._sas_lock = threading.Lock()
        self.secrets = self._known_secrets()
        self._failure_kinds: list[bool] = []  # transient? per failed blob
        self._pending = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        self._pending_count = 0
        self._unverified: set[str] = set()  # left out of the checkpoint
        self._blobs_seen = 0

    def _known_secrets(self) -> list[str]:
        if not self.factory.is_sandbox:
            return []
        accounts = self.factory.sandbox_env.get("storage_accounts", {})
        return [a.get("key", "") for a in accounts.values()]

    def _redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    # -- transfer mode ---------------------------------------------------------------------
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

    # -- SAS -------------------------------------------------------------------------------
    def source_sas(self) -> str:
        """A read-only container SAS on the source, renewed before it expires. Sandbox: signed
        with the account key (Azurite has no Entra); Azure: a user delegation SAS."""
        now = datetime.now(UTC)
        with self._sas_lock:
            if self._sas is None or self._sas[1] - now < SAS_RENEW_BEFORE:
                start, expiry = now - timedelta(minutes=5), now + SAS_LIFETIME
                perm = ContainerSasPermissions(read=True)
                account, container = self.job.source_account, self.job.container
                if self.factory.is_sandbox:
                    key = self.factory.sandbox_env["storage_accounts"][account]["key"]
                    token = generate_container_sas(
                        account, container, account_key=key, permission=perm, expiry=expiry, start=start
                    )
                else:
                    udk = self.src_svc.get_user_delegation_key(start, expiry)
                    token = generate_container_sas(
                        account,
                        container,
                        user_delegation_key=udk,
                        permission=perm,
                        expiry=expiry,
                        start=start,
                    )
                self._sas = (token, expiry)
            return self._sas[0]

    # -- per-blob operations ----------------------------------------------------------------
    def copy(self, src: BlobEntry, dst: BlobEntry | None, defer: bool = True) -> _Outcome:
        """Copy and verify one blob over the listed destination version ``dst`` (None: there was
        none), never over another; re-copy once on a mismatch; a persistent one is permanent.
        With ``defer`` a server-side copy of a blob with an MD5 is verified later, in bulk, from
        a listing of the destination (one request per 5,000 blobs instead of one per blob)."""
        for attempt in (1, 2):
            try:
                src, md5_hex, transfer = self._copy_once(src, dst, defer and attempt == 1)
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) in ("BlobNotFound", None) and not self._source_exists(src):
                    return _Outcome("vanished", error="deleted from the source during the run")
                raise
            if md5_hex == DEFERRED:
                return _Outcome("copied", src.md5_hex, src.size, transfer=transfer, deferred=src)
            if md5_hex is not None:
                return _Outcome("copied", md5_hex, src.size, transfer=transfer)
            log.warning("%s/%s: MD5 mismatch after copy attempt %d", self.job.container, src.name, attempt)
            dst = entry_from(self.dst_cc.get_blob_client(src.name).get_blob_properties())  # our own copy
        raise PermanentError(
            f"{self.job.container}/{src.name}: destination MD5 differs from the source after a re-copy"
        )

    def copy_or_confirm(self, action: Action) -> _Outcome:
        """Copy, unless the destination has the same size and only an MD5 is missing on one
        side: then hash the side(s) without one, and if the bytes are equal record the MD5 on
        the destination instead of copying (and of overwriting the destination). A conflict
        first keeps the version that will not be live (see ``failback_action``)."""
        src, dst = action.source, action.dest
        assert src is not None
        if action.keep_source_as:
            md5_hex = self.keep_copy(self.src_cc, src, action.keep_source_as)
            return _Outcome("kept", md5_hex, src.size)
        if action.keep_dest_as and dst is not None:
            self.keep_copy(self.dst_cc, dst, action.keep_dest_as)
        if dst is not None and dst.size == src.size and (src.content_md5 is None or dst.content_md5 is None):
            want = src.md5_hex or self.hash_blob(self.src_cc, src.name, src.etag)
            got = dst.md5_hex or self.hash_blob(self.dst_cc, dst.name, dst.etag)
            if want == got:
                if dst.content_md5 is None or not src.same_properties(dst):
                    client = self.dst_cc.get_blob_client(src.name)
                    client.set_http_headers(content_settings_of(src, bytes.fromhex(want)), **dest_conditions(dst))
                    if dict(src.metadata) != dict(dst.metadata):
                        client.set_blob_metadata(src.metadata)
                return _Outcome("skipped", want)
        return self.copy(src, dst)

    def keep_copy(self, cc: ContainerClient, version: BlobEntry, keep_as: str) -> str:
        """Save ``version`` of a blob of ``cc`` (source or destination) under ``keep_as`` in the
        destination account's state container, verified by MD5; the MD5 hex. Named per version,
        so an existing copy is this very version, kept by an earlier attempt. Streamed (conflicts
        are rare) and conditional on the version, so it is exactly the one that was listed."""
        target = self.dst_svc.get_blob_client(CHECKPOINT_CONTAINER, keep_as)
        with contextlib.suppress(ResourceNotFoundError):
            kept = target.get_blob_properties()
            return kept.content_settings.content_md5.hex() if kept.content_settings.content_md5 else ""
        ensure_container(self.dst_svc, CHECKPOINT_CONTAINER)
        try:
            downloader = cc.get_blob_client(version.name).download_blob(
                etag=version.etag, match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise DestinationChanged(f"{self.job.container}/{version.name}: changed while its conflict copy "
                                         "was being kept; nothing overwritten") from None
            raise
        md5 = hashlib.md5(usedforsecurity=False)

        def chunks() -> Iterator[bytes]:
            for chunk in downloader.chunks():
                md5.update(chunk)
                yield chunk

        origin = quote(f"{cc.account_name}/{cc.container_name}/{version.name}", safe="/")
        target.upload_blob(chunks(), overwrite=False, metadata={**version.metadata, "foundry_dr_conflict_of": origin},
                           content_settings=content_settings_of(version, version.content_md5))
        if version.content_md5 and md5.digest() != version.content_md5:
            raise PermanentError(f"conflict copy {keep_as} does not match {version.name}; nothing was replaced")
        return md5.hexdigest()

    def _source_exists(self, src: BlobEntry) -> bool:
        try:
            self.src_cc.get_blob_client(src.name).get_blob_properties()
            return True
        except ResourceNotFoundError:
            return False

    def _copy_once(
        self, src: BlobEntry, dst: BlobEntry | None, defer: bool = False
    ) -> tuple[BlobEntry, str | None, str]:
        """(source as copied, verified MD5 hex or None on mismatch, transfer used)."""
        for _ in range(3):  # the source may change between listing and copy: refresh and retry
            try:
                if self.mode() == "server-side":
                    try:
                        return src, self._server_copy(src, dst, defer), "server-side"
                    except HttpResponseError as exc:
                        if error_code(exc) in REFUSED_CODES and self._source_exists(src):
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
        url = f"{self.src_cc.get_blob_client(src.name).url}?{self.source_sas()}"
        kwargs: dict[str, Any] = {
            "metadata": src.metadata or None,
            "source_etag": src.etag,
            "source_match_condition": MatchConditions.IfNotModified,
            **dest_conditions(dst_expect),
        }
        tier = _tier(src)
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
        return self._verify_dest(src, dst)

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
        """Ranged download -> staged blocks (each with a transactional MD5) -> commit; append and
        page blobs are written as their own type (appended blocks, uploaded pages)."""
        blob = self.src_cc.get_blob_client(src.name)
        dst = self.dst_cc.get_blob_client(src.name)
        cond = dest_conditions(dst_expect)
        down = blob.download_blob(etag=src.etag, match_condition=MatchConditions.IfNotModified)
        digest = hashlib.md5(usedforsecurity=False)
        tier = _tier(src)
        if not src.is_block_blob:
            settings = content_settings_of(src, src.content_md5)
            if src.blob_type == "PageBlob":
                dst.create_page_blob(src.size, content_settings=settings, metadata=src.metadata, **cond)
                offset = 0
                for chunk in down.chunks():
                    digest.update(chunk)
                    if chunk.strip(b"\0"):  # an all-zero range is a page blob's unwritten default
                        dst.upload_page(chunk, offset=offset, length=len(chunk), validate_content=True)
                    offset += len(chunk)
            else:
                dst.create_append_blob(content_settings=settings, metadata=src.metadata, **cond)
                for chunk in down.chunks():
                    digest.update(chunk)
                    for at in range(0, len(chunk), STREAM_BLOCK):
                        dst.append_block(chunk[at:at + STREAM_BLOCK], validate_content=True)
        elif src.size <= SINGLE_PUT_LIMIT:
            data = down.readall()
            digest.update(data)
            md5 = src.content_md5 or digest.digest()
            dst.upload_blob(
                data, overwrite=dst_expect is not None, metadata=src.metadata, validate_content=True,
                content_settings=content_settings_of(src, md5), standard_blob_tier=tier,
                **({} if dst_expect is None else cond),
            )  # fmt: skip
        else:
            blocks: list[BlobBlock] = []
            buffer = bytearray()

            def stage(data: bytes) -> None:
                block_id = f"{len(blocks):08d}".encode().hex()
                dst.stage_block(block_id, data, validate_content=True)
                blocks.append(BlobBlock(block_id))

            for chunk in down.chunks():
                digest.update(chunk)
                buffer += chunk
                while len(buffer) >= STREAM_BLOCK:
                    stage(bytes(buffer[:STREAM_BLOCK]))
                    del buffer[:STREAM_BLOCK]
            if buffer:
                stage(bytes(buffer))
            md5 = src.content_md5 or digest.digest()
            dst.commit_block_list(
                blocks,
                metadata=src.metadata,
                content_settings=content_settings_of(src, md5),
                standard_blob_tier=tier,
                **cond,
            )
        computed = digest.hexdigest()
        if src.content_md5 and src.content_md5.hex() != computed:
            return None  # the bytes read do not match the source's MD5: re-copy
        return self._verify_dest(src, dst, streamed_md5=computed)

    def _verify_dest(self, src: BlobEntry, dst: Any, streamed_md5: str | None = None) -> str | None:
        """Destination MD5 == source MD5 (hashing both when the source has none, then recording
        it on the destination); properties and tier reconciled. None on mismatch."""
        props = dst.get_blob_properties()
        got = entry_from(props)
        if got.size != src.size:
            return None
        want = src.md5_hex or streamed_md5
        if want is None:  # server-side copy of a blob without MD5: hash both sides
            want = self.hash_blob(self.src_cc, src.name, src.etag)
            if self.hash_blob(self.dst_cc, src.name, got.etag) != want:
                return None
        if got.md5_hex is not None and got.md5_hex != want:
            return None
        if (
            self.job.verify == "all"
            and streamed_md5 is None
            and self.hash_blob(self.dst_cc, src.name, got.etag) != want
        ):
            return None
        if got.md5_hex is None or not src.same_properties(got):
            dst.set_http_headers(content_settings_of(src, bytes.fromhex(want)))
        if dict(got.metadata) != dict(src.metadata):
            dst.set_blob_metadata(src.metadata)
        if _tier(src) is not None and got.tier != src.tier:
            dst.set_standard_blob_tier(_tier(src))
        return want

    @staticmethod
    def hash_blob(cc: Any, name: str, etag: str | None = None) -> str:
        """MD5 of a blob's content, streamed (never the whole blob in memory)."""
        kwargs: dict[str, Any] = {}
        if etag:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in cc.get_blob_client(name).download_blob(**kwargs).chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def update_properties(self, action: Action) -> _Outcome:
        src, dst = action.source, action.dest
        assert src is not None and dst is not None
        client = self.dst_cc.get_blob_client(src.name)
        if not src.same_properties(dst):
            client.set_http_headers(content_settings_of(src, dst.content_md5 or src.content_md5))
            if dict(src.metadata) != dict(dst.metadata):
                client.set_blob_metadata(src.metadata)
        if _tier(src) is not None and src.tier != dst.tier:
            client.set_standard_blob_tier(_tier(src))
        return _Outcome("updated", src.md5_hex or action.checkpoint_md5)

    def verify_skipped(self, action: Action) -> _Outcome:
        """verify="all": re-hash the destination of an unchanged blob; on a mismatch re-copy it,
        except in fail-back (``since``), where a differing destination goes through the same
        rules as any other action: a version written there after the recovery point is kept."""
        src, dst = action.source, action.dest
        assert src is not None and dst is not None
        want = src.md5_hex or action.checkpoint_md5 or self.hash_blob(self.src_cc, src.name, src.etag)
        if self.hash_blob(self.dst_cc, src.name, dst.etag) == want:
            return _Outcome("skipped", want)
        differs = Action(ActionKind.COPY, src.name, src, dst, "destination content differs from the source")
        if self.job.since is not None:
            differs = failback_action(differs, self.job.since, self.job.conflict_policy, self.job.dest_side,
                                      self.job.dest_container or self.job.container,
                                      self.job.source_since)  # fmt: skip
            if differs.kind is ActionKind.SKIP:
                return _Outcome("kept")
        log.warning("%s/%s: destination content differs from the source; re-copying", self.job.container, src.name)
        return self.copy_or_confirm(differs)

    def delete(self, action: Action) -> _Outcome:
        """Delete the listed destination version only (a newer write by someone else stays)."""
        assert action.dest is not None
        try:
            self.dst_cc.get_blob_client(action.name).delete_blob(
                delete_snapshots="include", **dest_conditions(action.dest))
        except ResourceNotFoundError:
            pass
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise DestinationChanged(f"{self.job.container}/{action.name}: changed after it was listed; "
                                         "not deleted") from None
            raise
        return _Outcome("deleted")

    def guarded(self, fn: Callable[[Action], _Outcome], action: Action) -> _Outcome:
        """Run one blob operation; turn its exception into a failed outcome (no secrets)."""
        try:
            return fn(action)
        except Exception as exc:  # noqa: BLE001 - classified and reported per blob
            return _Outcome("failed", error=self._redact(describe_error(exc)), transient=is_transient(exc))

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> ShardResult:
        job = self.job
        started = time.monotonic()
        result = ShardResult(
            job.source_account,
            job.dest_account,
            job.container,
            job.shard.id,
            job.shard.describe(),
            job.dry_run,
            transfer=self.mode(),
        )
        checkpoint = _Checkpoint(self.dst_svc, job.source_account, job.container, job.shard)
        if not job.dry_run:
            ensure_container(self.dst_svc, job.dest_container or job.container)
        # before the listing's first request, less a margin for the storage service's clock
        result.listed_at = datetime.now(UTC) - timedelta(seconds=job.clock_margin_seconds)
        source = _prefetch(lambda: list_entries(self.src_cc, job.shard, job.excludes, missing_ok=False))
        dest = _prefetch(lambda: list_entries(self.dst_cc, job.shard, job.excludes, missing_ok=True))
        actions = diff_sorted(source, dest, checkpoint.read(), job.mirror_deletes)
        if job.since is not None:
            # conflict copies are named after the destination's container: that is where the data lives
            actions = apply_since(actions, job.since, job.conflict_policy, job.dest_side,
                                  job.dest_container or job.container, job.source_since)
        transient_streak = 0
        try:
            with ThreadPoolExecutor(job.concurrency, thread_name_prefix="blob-copy") as pool:
                window: deque[tuple[Action, Future[_Outcome] | _Outcome]] = deque()
                limit = job.concurrency * 8

                def settle(block: bool) -> None:
                    nonlocal transient_streak
                    while window:
                        action, pending = window[0]
                        if isinstance(pending, Future):
                            if not block and not pending.done() and len(window) < limit:
                                return
                            outcome = pending.result()
                        else:
                            outcome = pending
                        window.popleft()
                        self._record(result, checkpoint, action, outcome)
                        transient_streak = transient_streak + 1 if outcome.transient else 0
                        if transient_streak >= max(8, job.concurrency):
                            raise TransientShardFailure(
                                f"{job}: {transient_streak} transient failures in a row: {outcome.error}"
                            )

                for action in actions:
                    window.append((action, self._dispatch(pool, action, result)))
                    settle(block=False)
                settle(block=True)
                self._verify_deferred(pool, result)
        except ShardFailed as exc:
            exc.result = result
            self._finish(result, checkpoint, started)
            raise
        except Exception as exc:
            result.error = self._redact(describe_error(exc))
            self._finish(result, checkpoint, started)
            message = f"{job}: {result.error}"
            if is_transient(exc):
                raise TransientShardFailure(message, result) from None
            raise PermanentShardFailure(message, result) from None
        self._finish(result, checkpoint, started)
        if result.counts.failed:
            first = "; ".join(f"{n}: {e}" for n, e in result.failures[:5])
            message = f"{job}: {result.counts.failed} blob(s) failed: {first}"
            if all(self._failure_kinds):
                raise TransientShardFailure(message, result)
            raise PermanentShardFailure(message, result)
        return result

    def _dispatch(self, pool: ThreadPoolExecutor, action: Action, result: ShardResult) -> Future[_Outcome] | _Outcome:
        if action.kind is ActionKind.SKIP_ARCHIVE:
            return _Outcome("archived", error=action.reason)
        if self.job.dry_run:  # report only
            return _Outcome(_DRY_RUN_OUTCOME.get(action.kind, "skipped"))
        if action.kind is ActionKind.COPY:
            return pool.submit(self.guarded, self.copy_or_confirm, action)
        if action.kind is ActionKind.UPDATE_PROPERTIES:
            return pool.submit(self.guarded, self.update_properties, action)
        if action.kind is ActionKind.DELETE:
            return pool.submit(self.guarded, self.delete, action)
        src = action.source
        if src is None:  # a destination blob the fail-back rules keep
            return _Outcome("kept")
        if action.kind is ActionKind.SKIP and self.job.verify == "all":
            return pool.submit(self.guarded, self.verify_skipped, action)
        return _Outcome("skipped", src.md5_hex or action.checkpoint_md5)

    def _record(self, result: ShardResult, checkpoint: _Checkpoint, action: Action, outcome: _Outcome) -> None:
        c = result.counts
        src = action.source
        kind = outcome.kind
        if action.reason.startswith("conflict") and kind != "failed":
            c.conflicts += 1
            result.sample("conflict", f"{action.name}: {action.reason}")
            kept = action.keep_dest_as or action.keep_source_as
            if kept and len(result.conflict_copies) < MAX_CONFLICT_COPIES:
                result.conflict_copies.append(f"{self.job.dest_account}/{CHECKPOINT_CONTAINER}/{kept}")
        if kind == "copied" and outcome.deferred is not None:
            self._defer(outcome.deferred)
            if outcome.transfer:
                result.transfer = outcome.transfer
        elif kind == "copied":
            c.copied += 1
            c.bytes_copied += outcome.nbytes if not self.job.dry_run else (src.size if src else 0)
            if not self.job.dry_run:
                c.verified += 1
            if outcome.transfer:
                result.transfer = outcome.transfer
            result.sample("copy", f"{action.name} ({action.reason})")
        elif kind == "updated":
            c.updated += 1
            result.sample("update-properties", f"{action.name} ({action.reason})")
        elif kind == "skipped":
            c.skipped += 1
            if self.job.verify == "all" and not self.job.dry_run:
                c.verified += 1
        elif kind == "vanished":
            c.skipped += 1
            result.sample("vanished", action.name)
        elif kind == "kept":
            c.kept += 1
            result.sample("kept", f"{action.name} ({action.reason})")
        elif kind == "archived":
            c.archived += 1
            result.sample("skip-archive", f"{action.name}: {action.reason}")
            if len(result.unprotected) < MAX_FAILURE_SAMPLES:
                result.unprotected.append(f"{self.job.container}/{action.name}: {action.reason}")
        elif kind == "deleted":
            c.deleted += 1
            result.sample("delete", action.name)
        else:
            c.failed += 1
            self._failure_kinds.append(outcome.transient)
            if len(result.failures) < MAX_FAILURE_SAMPLES:
                result.failures.append((action.name, outcome.error or "failed"))
        if src is not None:
            self._blobs_seen += 1
        if kind in ("copied", "updated", "skipped") and src is not None and not self.job.dry_run:
            carried = action.reason == UNCHANGED and outcome.md5_hex == action.checkpoint_md5
            checkpoint.add(src.name, src.etag, outcome.md5_hex, carried)

    # -- bulk verification ----------------------------------------------------------------
    def _defer(self, src: BlobEntry) -> None:
        """Remember a copied blob for the verification listing (spooled, in name order)."""
        record = [src.name, src.size, src.etag, src.md5_hex, src.tier, src.content_settings(), src.metadata]
        self._pending.write(json.dumps(record).encode() + b"\n")
        self._pending_count += 1

    def _deferred(self) -> Iterator[BlobEntry]:
        self._pending.seek(0)
        for line in self._pending:
            name, size, etag, md5, tier, settings, metadata = json.loads(line)
            yield BlobEntry(name, size, etag, bytes.fromhex(md5), None, tier, metadata=metadata, **settings)

    def _verify_deferred(self, pool: ThreadPoolExecutor, result: ShardResult) -> None:
        """List the destination once and check every deferred copy against its source: same
        size and MD5 (properties and tier reconciled). A mismatch is re-copied with a per-blob
        check; a persistent one fails the blob and keeps it out of the checkpoint."""
        if not self._pending_count:
            return
        c = result.counts
        dest = _prefetch(lambda: list_entries(self.dst_cc, self.job.shard, self.job.excludes, missing_ok=False))
        head = next(dest, None)
        retry: list[tuple[BlobEntry, Future[_Outcome]]] = []
        fixes: list[tuple[str, Future[_Outcome]]] = []
        for src in self._deferred():
            while head is not None and head.name < src.name:
                head = next(dest, None)
            got = head if head is not None and head.name == src.name else None
            if got is None or got.size != src.size or got.md5_hex != src.md5_hex:
                action = Action(ActionKind.COPY, src.name, src, got, "verification failed")
                retry.append((src, pool.submit(self.guarded, lambda a: self.copy(a.source, a.dest, defer=False),
                                               action)))
                continue
            c.copied += 1
            c.verified += 1
            c.bytes_copied += src.size
            result.sample("copy", src.name)
            if not src.same_properties(got) or (_tier(src) is not None and src.tier != got.tier):
                action = Action(ActionKind.UPDATE_PROPERTIES, src.name, src, got, "properties after copy")
                fixes.append((src.name, pool.submit(self.guarded, self.update_properties, action)))
        for src, fut in retry:
            outcome = fut.result()
            if outcome.kind == "copied":
                c.copied += 1
                c.verified += 1
                c.bytes_copied += src.size
            else:
                self._unverified.add(src.name)
                c.failed += 1
                self._failure_kinds.append(outcome.transient)
                if len(result.failures) < MAX_FAILURE_SAMPLES:
                    result.failures.append((src.name, outcome.error or "verification failed"))
        for name, fut in fixes:
            outcome = fut.result()
            if outcome.kind == "failed":
                self._unverified.add(name)
                c.failed += 1
                self._failure_kinds.append(outcome.transient)
                result.failures.append((name, outcome.error or "property update failed"))
        self._pending_count = 0

    def _finish(self, result: ShardResult, checkpoint: _Checkpoint, started: float) -> None:
        """Upload the checkpoint of what was verified (also after a failure: a retry resumes)."""
        result.seconds = round(time.monotonic() - started, 3)
        if self.job.dry_run:
            checkpoint.file.close()
            return
        try:
            if checkpoint.previous is None:
                ensure_container(self.dst_svc, CHECKPOINT_CONTAINER)
            if self._pending_count:  # copied but never verified (the shard stopped early)
                self._unverified.update(src.name for src in self._deferred())
            checkpoint.save(self._blobs_seen, self._unverified)
            result.checkpoint_blob = f"{CHECKPOINT_CONTAINER}/{checkpoint.path}"
            result.checkpoint_entries = checkpoint.entries
        except Exception as exc:  # noqa: BLE001 - reported; the next run re-compares by MD5
            log.warning("%s: checkpoint not saved: %s", self.job, self._redact(describe_error(exc)))


def run_shard(factory: ClientFactory, job: ShardJob) -> ShardResult:
    """Replicate one shard (see :class:`ShardCopier`)."""
    return ShardCopier(factory, job).run()
