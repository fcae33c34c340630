"""The run of one blob shard: stream both listings, diff, copy, verify, checkpoint.

No Prefect here: ``foundry_dr.tasks.storage`` wraps :func:`run_shard` in a task (one per shard).
The decisions come from :mod:`foundry_dr.blob_sync`; the per-blob work from
:mod:`~foundry_dr.replication.actions`.

Memory stays flat at any blob count: listings are prefetched page by page into small bounded
queues (:mod:`~foundry_dr.replication.listing`), the diff is a streaming merge-join, copies go
through a bounded window of futures (which also keeps the checkpoint in name order) into the
run's shared copy threads (:mod:`~foundry_dr.replication.pool`: ``concurrency`` caps the copies of
all shards of a run in one process), and the
checkpoint and the copies awaiting verification are spooled to temporary files
(:mod:`~foundry_dr.replication.shard_state`).

Secrets: every copy uses a read-only SAS on the source. Nothing that can carry it (URLs,
service messages) leaves the engine without :func:`foundry_dr.redact.redact_text`: per-blob
errors are redacted where they are caught (``BlobActions.guarded``), a shard's own error here.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from foundry_dr.blob_sync import UNCHANGED, Action, ActionKind, BlobEntry, apply_since, diff_sorted
from foundry_dr.replication import listing
from foundry_dr.replication.actions import BlobActions, Outcome
from foundry_dr.replication.blobs import (
    ShardContainers,
    describe_error,
    ensure_container,
    known_secrets,
    standard_tier,
)
from foundry_dr.replication.job import (
    PermanentShardFailure,
    ShardFailed,
    ShardJob,
    ShardResult,
    TransientShardFailure,
)
from foundry_dr.replication.pool import ShardSubmitter, copy_pool
from foundry_dr.replication.sas import SourceSas
from foundry_dr.replication.shard_state import DeferredCopies, ShardCheckpoint
from foundry_dr.replication.transfer import BlobTransfer
from foundry_dr.retry import is_transient
from foundry_dr.state_layout import STATE_CONTAINER

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory

log = logging.getLogger("foundry_dr.replication")

MAX_FAILURE_SAMPLES = 50
MAX_CONFLICT_COPIES = 1000  # listed in the report; the count is always exact

_DRY_RUN_OUTCOME = {
    ActionKind.COPY: "copied",
    ActionKind.DELETE: "deleted",
    ActionKind.UPDATE_PROPERTIES: "updated",
}


class ShardCopier:
    """Copies one shard. One instance per shard run; its per-blob work runs in the copy threads,
    its bookkeeping (counts, checkpoint) in the calling thread only."""

    def __init__(self, factory: ClientFactory, job: ShardJob) -> None:
        self.job = job
        self.sides = ShardContainers.open(factory, job)
        sas = SourceSas(factory, self.sides.src_svc, job.source_account, job.container)
        self.transfer = BlobTransfer(job, self.sides, sas)
        self.secrets = known_secrets(factory)
        self.actions = BlobActions(job, self.sides, self.transfer, self.secrets)
        self._failure_kinds: list[bool] = []  # transient? per failed blob
        self._deferred = DeferredCopies()
        self._unverified: set[str] = set()  # left out of the checkpoint
        self._blobs_seen = 0

    def _redact(self, text: str) -> str:
        return self.actions.redact(text)

    def _list(self, side: str, missing_ok: bool) -> Iterator[BlobEntry]:
        cc = self.sides.src_cc if side == "source" else self.sides.dst_cc
        return listing.prefetch(lambda: listing.list_entries(cc, self.job.shard, self.job.excludes, missing_ok))

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
            transfer=self.transfer.mode(),
        )
        checkpoint = ShardCheckpoint(self.sides.dst_svc, job.source_account, job.container, job.shard)
        if not job.dry_run:
            ensure_container(self.sides.dst_svc, job.dest_container or job.container)
        # before the listing's first request, less a margin for the storage service's clock
        result.listed_at = datetime.now(UTC) - timedelta(seconds=job.clock_margin_seconds)
        source = self._list("source", missing_ok=False)
        dest = self._list("destination", missing_ok=True)
        actions = diff_sorted(source, dest, checkpoint.read(), job.mirror_deletes)
        if job.since is not None:
            # conflict copies are named after the destination's container: that is where the data lives
            actions = apply_since(
                actions,
                job.since,
                job.conflict_policy,
                job.dest_side,
                job.dest_container or job.container,
                job.source_since,
            )
        transient_streak = 0
        try:
            with copy_pool(job.pool_key, job.concurrency) as pool:
                window: deque[tuple[Action, Future[Outcome] | Outcome]] = deque()
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
                    window.append((action, self._dispatch(pool, action)))
                    settle(block=False)
                settle(block=True)
                self._verify_deferred(pool, result)
        except ShardFailed as exc:
            exc.result = result
            self._finish(result, checkpoint, started)
            raise
        except Exception as exc:  # noqa: BLE001 - any error ends the shard: classified, redacted, re-raised
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

    def _dispatch(self, pool: ShardSubmitter, action: Action) -> Future[Outcome] | Outcome:
        ops = self.actions
        if action.kind is ActionKind.SKIP_ARCHIVE:
            return Outcome("archived", error=action.reason)
        if self.job.dry_run:  # report only
            return Outcome(_DRY_RUN_OUTCOME.get(action.kind, "skipped"))
        if action.kind is ActionKind.COPY:
            return pool.submit(ops.guarded, ops.copy_or_confirm, action)
        if action.kind is ActionKind.UPDATE_PROPERTIES:
            return pool.submit(ops.guarded, ops.update_properties, action)
        if action.kind is ActionKind.DELETE:
            return pool.submit(ops.guarded, ops.delete, action)
        src = action.source
        if src is None:  # a destination blob the fail-back rules keep
            return Outcome("kept")
        if action.kind is ActionKind.SKIP and self.job.verify == "all":
            return pool.submit(ops.guarded, ops.verify_skipped, action)
        return Outcome("skipped", src.md5_hex or action.checkpoint_md5)

    def _fail(self, result: ShardResult, name: str, outcome: Outcome, default: str, sample: bool = True) -> None:
        result.counts.failed += 1
        self._failure_kinds.append(outcome.transient)
        if not sample or len(result.failures) < MAX_FAILURE_SAMPLES:
            result.failures.append((name, outcome.error or default))

    def _record(self, result: ShardResult, checkpoint: ShardCheckpoint, action: Action, outcome: Outcome) -> None:
        c = result.counts
        src = action.source
        kind = outcome.kind
        if action.reason.startswith("conflict") and kind != "failed":
            c.conflicts += 1
            result.sample("conflict", f"{action.name}: {action.reason}")
            kept = action.keep_dest_as or action.keep_source_as
            if kept and len(result.conflict_copies) < MAX_CONFLICT_COPIES:
                result.conflict_copies.append(f"{self.job.dest_account}/{STATE_CONTAINER}/{kept}")
        if kind == "copied" and outcome.deferred is not None:
            self._deferred.add(outcome.deferred)
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
            self._fail(result, action.name, outcome, "failed")
        if src is not None:
            self._blobs_seen += 1
        if kind in ("copied", "updated", "skipped") and src is not None and not self.job.dry_run:
            carried = action.reason == UNCHANGED and outcome.md5_hex == action.checkpoint_md5
            checkpoint.add(src.name, src.etag, outcome.md5_hex, carried)

    # -- bulk verification ----------------------------------------------------------------
    def _verify_deferred(self, pool: ShardSubmitter, result: ShardResult) -> None:
        """List the destination once and check every deferred copy against its source: same
        size and MD5 (properties and tier reconciled). A mismatch is re-copied with a per-blob
        check; a persistent one fails the blob and keeps it out of the checkpoint."""
        if not self._deferred.count:
            return
        ops = self.actions
        c = result.counts
        dest = self._list("destination", missing_ok=False)
        head = next(dest, None)
        retry: list[tuple[BlobEntry, Future[Outcome]]] = []
        fixes: list[tuple[str, Future[Outcome]]] = []
        for src in self._deferred:
            while head is not None and head.name < src.name:
                head = next(dest, None)
            got = head if head is not None and head.name == src.name else None
            if got is None or got.size != src.size or got.md5_hex != src.md5_hex:
                action = Action(ActionKind.COPY, src.name, src, got, "verification failed")
                retry.append((src, pool.submit(ops.guarded, ops.recopy, action)))
                continue
            c.copied += 1
            c.verified += 1
            c.bytes_copied += src.size
            result.sample("copy", src.name)
            if not src.same_properties(got) or (standard_tier(src) is not None and src.tier != got.tier):
                action = Action(ActionKind.UPDATE_PROPERTIES, src.name, src, got, "properties after copy")
                fixes.append((src.name, pool.submit(ops.guarded, ops.update_properties, action)))
        for src, fut in retry:
            outcome = fut.result()
            if outcome.kind == "copied":
                c.copied += 1
                c.verified += 1
                c.bytes_copied += src.size
            else:
                self._unverified.add(src.name)
                self._fail(result, src.name, outcome, "verification failed")
        for name, fut in fixes:
            outcome = fut.result()
            if outcome.kind == "failed":
                self._unverified.add(name)
                self._fail(result, name, outcome, "property update failed", sample=False)
        self._deferred.clear()

    def _finish(self, result: ShardResult, checkpoint: ShardCheckpoint, started: float) -> None:
        """Upload the checkpoint of what was verified (also after a failure: a retry resumes)."""
        result.seconds = round(time.monotonic() - started, 3)
        if self.job.dry_run:
            checkpoint.discard()
            return
        try:
            if checkpoint.previous is None:
                ensure_container(self.sides.dst_svc, STATE_CONTAINER)
            if self._deferred.count:  # copied but never verified (the shard stopped early)
                self._unverified.update(src.name for src in self._deferred)
            checkpoint.save(self._blobs_seen, self._unverified)
            result.checkpoint_blob = f"{STATE_CONTAINER}/{checkpoint.path}"
            result.checkpoint_entries = checkpoint.entries
        except Exception as exc:  # noqa: BLE001 - best effort: reported; the next run re-compares by MD5
            log.warning("%s: checkpoint not saved: %s", self.job, self._redact(describe_error(exc)))


def run_shard(factory: ClientFactory, job: ShardJob) -> ShardResult:
    """Replicate one shard (see :class:`ShardCopier`)."""
    return ShardCopier(factory, job).run()
