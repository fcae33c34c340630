"""A shard's state between and within runs, spooled to temporary files (never one object per blob).

* :class:`ShardCheckpoint` — the per-shard checkpoint blob: a header line naming the shard's
  parts, then a name-sorted JSON-lines file of ``[name, etag, md5_hex]`` for every blob verified
  in place, kept in the destination account's state container (:data:`foundry_dr.state_layout.STATE_CONTAINER`, under
  :data:`~foundry_dr.state_layout.BLOB_CHECKPOINTS_PREFIX`). The next run streams it into the diff
  and skips what it lists unchanged; a retry after a failure resumes from it. When the shard
  layout changes (the container grew or shrank), a new shard reads the files of the old shards
  that overlap it (:func:`foundry_dr.blob_sync.merge_checkpoints`), so its blobs keep their records;
  the planner deletes files that no longer speak for any name
  (:func:`foundry_dr.blob_sync.superseded_checkpoints`).
* :class:`DeferredCopies` — copies that succeeded and wait for the shard's bulk verification
  listing, in name order.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContentSettings

from foundry_dr.blob_sync import (
    BlobEntry,
    CheckpointFile,
    PartIndex,
    Shard,
    ShardPart,
    merge_checkpoints,
    parts_from_text,
    parts_to_text,
)
from foundry_dr.state_layout import BLOB_CHECKPOINTS_PREFIX, STATE_CONTAINER

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient


LAYOUT_VERSION = "2"  # files that say which parts they speak for (older ones: only their own shard's)
MAX_PARTS_IN_METADATA = 4096  # characters; blob metadata is at most 8 KiB in all (more: the header line)


def checkpoint_path(source_account: str, container: str, shard: Shard) -> str:
    return f"{checkpoint_dir(source_account, container)}{shard.id}.jsonl"


def checkpoint_dir(source_account: str, container: str) -> str:
    return f"{BLOB_CHECKPOINTS_PREFIX}/{source_account}/{container}/"


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint file as listed: what it speaks for (:class:`CheckpointFile`) and its metadata."""

    file: CheckpointFile
    metadata: dict[str, str]

    @property
    def has_header(self) -> bool:
        return self.metadata.get("layout") == LAYOUT_VERSION

    @property
    def blobs(self) -> int | None:
        value = self.metadata.get("blobs", "")
        return int(value) if value.isdigit() else None


def list_checkpoints(
    dest: BlobServiceClient, source_account: str, container: str, **kwargs: Any
) -> list[StoredCheckpoint]:
    """The container's shard checkpoint files (of every layout), oldest first; none if the
    state container does not exist yet."""
    prefix = checkpoint_dir(source_account, container)
    found = []
    try:
        items = dest.get_container_client(STATE_CONTAINER).list_blobs(
            name_starts_with=prefix, include=["metadata"], **kwargs
        )
        for item in items:
            rest = item.name[len(prefix) :]
            if "/" in rest or not rest.endswith(".jsonl"):
                continue
            metadata = dict(item.metadata or {})
            parts = None
            if metadata.get("layout") == LAYOUT_VERSION and "parts" in metadata:
                with contextlib.suppress(ValueError):
                    parts = parts_from_text(metadata["parts"])
            rank = (item.last_modified, metadata.get("written", ""), item.name)
            found.append(StoredCheckpoint(CheckpointFile(item.name, rest[: -len(".jsonl")], parts, rank), metadata))
    except ResourceNotFoundError:
        return []
    return sorted(found, key=lambda c: c.file.rank)


def checkpointed_blob_count(dest: BlobServiceClient, source_account: str, container: str) -> int | None:
    """How many source blobs the last run saw, if it ran the container as one shard (None if
    unknown or sharded): lets the shard planner skip its listing for containers that were small
    last time. The newest file decides: a whole-container file older than a sharded layout's
    files is a leftover that the planner's clean-up has not removed yet."""
    # one quick attempt: this is an optimisation, not worth the SDK's retry back-off
    files = list_checkpoints(dest, source_account, container, retry_total=0)
    if not files or files[-1].file.shard_id != Shard().id:
        return None
    return files[-1].blobs


class _Records:
    """One checkpoint file's records, streamed; its header line (the parts it speaks for) read
    first when it has one."""

    def __init__(self, client: Any) -> None:
        self._chunks = client.download_blob().chunks()
        self._lines: Iterator[bytes] = self._split()
        self.header: dict[str, Any] | None = None
        self._first: bytes | None = next(self._lines, None)
        if self._first is not None and self._first.startswith(b"{"):
            self.header = json.loads(self._first)
            self._first = None

    def _split(self) -> Iterator[bytes]:
        rest = b""
        for chunk in self._chunks:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line.strip():
                    yield line
        if rest.strip():
            yield rest

    def parts(self) -> tuple[ShardPart, ...] | None:
        if self.header is None or not isinstance(self.header.get("parts"), list):
            return None
        return parts_from_text(json.dumps(self.header["parts"]))

    def __iter__(self) -> Iterator[tuple[str, ...]]:
        if self._first is not None:
            yield tuple(json.loads(self._first))
        for line in self._lines:
            yield tuple(json.loads(line))


class ShardCheckpoint:
    """The shard's checkpoint blob: a name-sorted JSON-lines file of [name, etag, md5_hex]
    for every blob verified in place, in the destination account (container ``foundry-dr``),
    after a header line naming the parts it speaks for (so that a later layout can read it)."""

    def __init__(self, dest: BlobServiceClient, source_account: str, container: str, shard: Shard) -> None:
        self.dest = dest
        self.source_account = source_account
        self.container = container
        self.shard = shard
        self.path = checkpoint_path(source_account, container, shard)
        self.client = dest.get_blob_client(STATE_CONTAINER, self.path)
        self.file = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
        self.entries = 0
        self.unchanged = 0  # entries carried over as they were
        self.previous: int | None = None  # entries of the previous checkpoint, if it alone speaks for the shard
        self.sources = 0  # files read (several after the layout changed)

    def read(self) -> Iterator[tuple[str, ...]]:
        """The records that hold for this shard, streamed, from its own file and from files of
        other layouts that overlap it (:func:`foundry_dr.blob_sync.merge_checkpoints`); nothing
        if there are none. Files of older versions count only for their own shard, as before."""
        sources: list[tuple[tuple[ShardPart, ...], tuple[Any, ...], Iterable[tuple[str, ...]]]] = []
        own: StoredCheckpoint | None = None
        for stored in list_checkpoints(self.dest, self.source_account, self.container):
            f = stored.file
            mine = f.shard_id == self.shard.id
            if not mine and f.parts is None and not stored.has_header:
                continue  # an older version's file of another layout: never read, as before
            if not mine and f.parts is not None and not PartIndex(f.parts).overlaps(self.shard.parts):
                continue
            try:
                records = _Records(self.dest.get_blob_client(STATE_CONTAINER, f.path))
            except ResourceNotFoundError:  # deleted since it was listed (a clean-up)
                continue
            parts = self.shard.parts if mine else (f.parts or records.parts())
            if parts is None or (not mine and not PartIndex(parts).overlaps(self.shard.parts)):
                continue
            if mine:
                own = stored
            sources.append((parts, f.rank, records))
        self.sources = len(sources)
        if own is not None and max(s[1] for s in sources) == own.file.rank:
            value = own.metadata.get("entries", "")
            self.previous = int(value) if value.isdigit() else None
        yield from merge_checkpoints(self.shard, sources)

    def add(self, name: str, etag: str, md5_hex: str | None, carried_over: bool = False) -> None:
        self.file.write(json.dumps([name, etag, md5_hex or ""]).encode() + b"\n")
        self.entries += 1
        self.unchanged += carried_over

    def save(self, blobs_seen: int, leave_out: set[str] | None = None) -> bool:
        """Upload, unless every record was carried over unchanged from the shard's own file (a
        no-change run writes nothing); records of ``leave_out`` (not verified) are dropped. True
        if uploaded."""
        try:
            if self.previous is not None and self.unchanged == self.entries == self.previous:
                return False
            parts = parts_to_text(self.shard.parts)
            out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
            out.write(json.dumps({"layout": int(LAYOUT_VERSION), "parts": json.loads(parts)}).encode() + b"\n")
            self.file.seek(0)
            for line in self.file:
                if leave_out and json.loads(line)[0] in leave_out:
                    self.entries -= 1
                    continue
                out.write(line)
            self.file.close()
            self.file = out
            self.file.seek(0)
            metadata = {
                "entries": str(self.entries),
                "blobs": str(blobs_seen),
                "layout": LAYOUT_VERSION,
                "written": datetime.now(UTC).isoformat(),
            }
            if len(parts) <= MAX_PARTS_IN_METADATA:
                metadata["parts"] = parts
            self.client.upload_blob(
                self.file, overwrite=True, content_settings=ContentSettings("application/jsonl"), metadata=metadata
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
