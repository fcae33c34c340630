"""A shard's state between and within runs, spooled to temporary files (never one object per blob).

* :class:`ShardCheckpoint` — the per-shard checkpoint blob: a name-sorted JSON-lines file of
  ``[name, etag, md5_hex]`` for every blob verified in place, kept in the destination account's
  state container (:data:`foundry_dr.state_layout.STATE_CONTAINER`, under
  :data:`~foundry_dr.state_layout.BLOB_CHECKPOINTS_PREFIX`). The next run streams it into the diff
  and skips what it lists unchanged; a retry after a failure resumes from it.
* :class:`DeferredCopies` — copies that succeeded and wait for the shard's bulk verification
  listing, in name order.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings

from foundry_dr.blob_sync import BlobEntry, Shard
from foundry_dr.state_layout import BLOB_CHECKPOINTS_PREFIX, STATE_CONTAINER

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient


def checkpoint_path(source_account: str, container: str, shard: Shard) -> str:
    return f"{BLOB_CHECKPOINTS_PREFIX}/{source_account}/{container}/{shard.id}.jsonl"


def checkpointed_blob_count(dest: BlobServiceClient, source_account: str, container: str) -> int | None:
    """How many source blobs the last run's whole-container shard saw (None if unknown): lets
    the shard planner skip its listing for containers that were small last time."""
    path = checkpoint_path(source_account, container, Shard())
    try:
        # one quick attempt: this is an optimisation, not worth the SDK's retry back-off
        props = dest.get_blob_client(STATE_CONTAINER, path).get_blob_properties(retry_total=0)
    except ResourceNotFoundError:
        return None
    value = (props.metadata or {}).get("blobs")
    return int(value) if value and value.isdigit() else None


class ShardCheckpoint:
    """The shard's checkpoint blob: a name-sorted JSON-lines file of [name, etag, md5_hex]
    for every blob verified in place, in the destination account (container ``foundry-dr``)."""

    def __init__(self, dest: BlobServiceClient, source_account: str, container: str, shard: Shard) -> None:
        self.path = checkpoint_path(source_account, container, shard)
        self.client = dest.get_blob_client(STATE_CONTAINER, self.path)
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

    def discard(self) -> None:
        """Drop the records without uploading them (a dry run)."""
        self.file.close()


class DeferredCopies:
    """Copied blobs whose check waits for the shard's verification listing: spooled (a shard
    may copy millions), in the order they were recorded, which is name order."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        self.count = 0

    def add(self, src: BlobEntry) -> None:
        record = [src.name, src.size, src.etag, src.md5_hex, src.tier, src.content_settings(), src.metadata]
        self.file.write(json.dumps(record).encode() + b"\n")
        self.count += 1

    def __iter__(self) -> Iterator[BlobEntry]:
        self.file.seek(0)
        for line in self.file:
            name, size, etag, md5, tier, settings, metadata = json.loads(line)
            yield BlobEntry(name, size, etag, bytes.fromhex(md5), None, tier, metadata=metadata, **settings)

    def clear(self) -> None:
        """Forget the records (the verification handled them)."""
        self.file.seek(0)
        self.file.truncate()
        self.count = 0
