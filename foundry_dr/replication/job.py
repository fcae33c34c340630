"""What one shard run is given and what it hands back: the job, the result, the failures.

Everything here is plain data, picklable, so a distributed task runner (Dask) can ship a
:class:`ShardJob` to a worker and a :class:`ShardResult` (or a :class:`ShardFailed` carrying
one) back. The result never holds the per-blob checkpoint map (it grows with the blob count),
and nothing in it carries a secret: its texts are redacted before they are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from foundry_dr.blob_sync import CLOCK_MARGIN, Shard, ShardCounts
from foundry_dr.retry import PermanentError, TransientError

Transfer = Literal["server-side", "streaming", "auto"]
Verify = Literal["changed", "all"]

SAMPLES_PER_KIND = 10


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
    # the run's shared copy threads in this process (foundry_dr.replication.pool): ``concurrency``
    # then caps the copies of all the run's shards together; None: a pool of the shard's own
    pool_key: str | None = None

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
