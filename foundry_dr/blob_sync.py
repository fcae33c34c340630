"""What blob replication has to do, decided without touching Azure (pure; unit-tested).

Blob listings come back sorted by name, so the source listing, the destination listing and
the previous run's checkpoint (written in the same order) are merged like three sorted files:
one pass, constant memory at any blob count. ``tasks/storage.py`` feeds the listings page by
page and acts on the resulting ``Action`` stream; ``shard_prefixes`` cuts a large container into
name-prefix shards so that each shard is one Prefect task (never one task per blob).
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from foundry_dr.sides import Direction
from foundry_dr.state_layout import CONFLICTS_PREFIX, STATE_CONTAINER

ARCHIVE = "Archive"
BLOCK_BLOB = "BlockBlob"
UNCHANGED = "unchanged since checkpoint"
# Blob times (Last-Modified, whole seconds) come from the storage service's clock, ours from this
# machine's: every threshold is moved by this much towards "changed", so a skew of up to it never
# makes a write look older than it is (the plan's failback.clock_margin_seconds overrides it).
CLOCK_MARGIN = timedelta(seconds=5)
# Never replicated: our own state container, and Azure's analytics logs.
ALWAYS_EXCLUDED = (STATE_CONTAINER, "$logs")
CONTENT_SETTINGS = (
    "content_type",
    "content_encoding",
    "content_language",
    "content_disposition",
    "cache_control",
)


@dataclass(slots=True)
class BlobEntry:
    """One blob as a listing reports it: enough to decide, copy and verify without a HEAD."""

    name: str
    size: int
    etag: str
    content_md5: bytes | None = None
    last_modified: datetime | None = None
    tier: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    cache_control: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    blob_type: str | None = None  # BlockBlob | AppendBlob | PageBlob (None: not listed, a block blob)

    @property
    def is_block_blob(self) -> bool:
        return self.blob_type in (None, BLOCK_BLOB)

    @property
    def md5_hex(self) -> str | None:
        return self.content_md5.hex() if self.content_md5 else None

    def content_settings(self) -> dict[str, str | None]:
        return {k: getattr(self, k) for k in CONTENT_SETTINGS}

    def same_properties(self, other: BlobEntry) -> bool:
        """Content settings and user metadata equal (what a copy preserves besides bytes)."""
        return self.content_settings() == other.content_settings() and dict(self.metadata) == dict(other.metadata)


class ActionKind(enum.StrEnum):
    COPY = "copy"
    SKIP = "skip"
    SKIP_ARCHIVE = "skip-archive"
    UPDATE_PROPERTIES = "update-properties"  # same bytes; metadata/headers/tier differ
    DELETE = "delete"


@dataclass(slots=True)
class Action:
    kind: ActionKind
    name: str
    source: BlobEntry | None
    dest: BlobEntry | None
    reason: str
    checkpoint_md5: str | None = None  # md5 hex the checkpoint recorded for this source ETag
    # conflicts (fail-back): a path in the destination account's STATE_CONTAINER where a version
    # is saved: the destination's before it is replaced, or the source's when the destination's wins
    keep_dest_as: str | None = None
    keep_source_as: str | None = None


CheckpointInput = Mapping[str, str] | Iterable[tuple[str, ...]] | None


class _CheckpointCursor:
    """Look-ups in a checkpoint given as a mapping (name -> etag) or as a name-sorted stream of
    ``(name, etag[, md5_hex])`` tuples. Look-ups must come in ascending name order (they do:
    they follow the source listing), so a stream is consumed lazily, never held in memory."""

    def __init__(self, checkpoint: CheckpointInput) -> None:
        self._mapping = checkpoint if isinstance(checkpoint, Mapping) else None
        self._stream: Iterator[tuple[str, ...]] | None = (
            iter(checkpoint) if checkpoint is not None and self._mapping is None else None
        )
        self._head: tuple[str, ...] | None = None
        self._last: str | None = None

    def get(self, name: str) -> tuple[str, str | None] | None:
        """(etag, md5_hex or None) recorded for ``name``, or None."""
        if self._mapping is not None:
            value = self._mapping.get(name)
            if value is None:
                return None
            return (value[0], value[1] if len(value) > 1 else None) if isinstance(value, tuple) else (value, None)
        if self._stream is None:
            return None
        while True:
            if self._head is None:
                self._head = next(self._stream, None)
                if self._head is None:
                    self._stream = None
                    return None
                if self._last is not None and self._head[0] < self._last:
                    raise ValueError(f"checkpoint is not sorted by name: {self._head[0]!r} after {self._last!r}")
                self._last = self._head[0]
            if self._head[0] < name:
                self._head = None
                continue
            if self._head[0] == name:
                etag, md5 = self._head[1], self._head[2] if len(self._head) > 2 else None
                return etag, md5 or None
            return None


def _sorted(entries: Iterable[BlobEntry], side: str) -> Iterator[BlobEntry]:
    """Pass entries through, failing loudly if a listing is not in ascending name order: the
    merge-join would silently copy or delete the wrong blobs otherwise."""
    last: str | None = None
    for entry in entries:
        if last is not None and entry.name <= last:
            raise ValueError(f"{side} listing is not sorted by name: {entry.name!r} after {last!r}")
        last = entry.name
        yield entry


def compare(src: BlobEntry, dst: BlobEntry | None, checkpoint: tuple[str, str | None] | None) -> Action:
    """The action for one source blob given its destination twin and checkpoint record."""
    if src.tier == ARCHIVE:
        return Action(
            ActionKind.SKIP_ARCHIVE, src.name, src, dst,
            "source blob is in the Archive tier (not readable); rehydrate it to replicate it",
        )  # fmt: skip
    if dst is None:
        return Action(ActionKind.COPY, src.name, src, None, "new")
    ck_md5 = checkpoint[1] if checkpoint else None
    if checkpoint is not None and checkpoint[0] == src.etag:
        # The source has not changed (any change, metadata included, changes the ETag) since
        # the last verified copy, and the destination still exists.
        return Action(ActionKind.SKIP, src.name, src, dst, UNCHANGED, ck_md5)
    src_md5 = src.md5_hex  # a checkpoint MD5 belongs to an older ETag here: not evidence
    if src.size == dst.size and src_md5 is not None and src_md5 == dst.md5_hex:
        if not src.same_properties(dst):
            return Action(ActionKind.UPDATE_PROPERTIES, src.name, src, dst, "properties differ", ck_md5)
        if src.tier and dst.tier and src.tier != dst.tier:
            return Action(ActionKind.UPDATE_PROPERTIES, src.name, src, dst, "access tier differs", ck_md5)
        return Action(ActionKind.SKIP, src.name, src, dst, "identical (size and MD5)", ck_md5)
    reason = "size differs" if src.size != dst.size else ("no MD5 to compare" if src_md5 is None else "MD5 differs")
    return Action(ActionKind.COPY, src.name, src, dst, reason, ck_md5)


def diff_sorted(
    source: Iterable[BlobEntry],
    dest: Iterable[BlobEntry],
    checkpoint: CheckpointInput = None,
    mirror_deletes: bool = False,
) -> Iterator[Action]:
    """Merge-join two name-sorted listings into the actions that make ``dest`` equal ``source``.

    Streaming: holds one entry of each side at a time. ``checkpoint`` maps name -> source ETag
    of the last verified copy (a mapping, or a name-sorted stream of ``(name, etag, md5_hex)``);
    a source blob whose ETag is unchanged and whose destination exists is skipped without
    comparing. Destination-only blobs are deleted only with ``mirror_deletes``. Dry-run callers
    consume the same stream and only report it.
    """
    ck = _CheckpointCursor(checkpoint)
    src_it, dst_it = _sorted(source, "source"), _sorted(dest, "destination")
    src, dst = next(src_it, None), next(dst_it, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src.name < dst.name):
            assert src is not None
            yield compare(src, None, ck.get(src.name))
            src = next(src_it, None)
        elif src is None or dst.name < src.name:
            if mirror_deletes:
                yield Action(ActionKind.DELETE, dst.name, None, dst, "not in source (mirror_deletes)")
            dst = next(dst_it, None)
        else:
            yield compare(src, dst, ck.get(src.name))
            src, dst = next(src_it, None), next(dst_it, None)


ConflictPolicy = str  # "keep-both" | "prefer-primary" | "prefer-secondary"


def version_tag(entry: BlobEntry) -> str:
    """Short, stable name of one version of a blob (its ETag changes with every write)."""
    return hashlib.sha1(entry.etag.encode()).hexdigest()[:12]


def conflict_path(container: str, name: str, side: str, since: datetime, version: BlobEntry) -> str:
    """Where a conflict keeps the losing version, in ``STATE_CONTAINER`` of the destination
    account: outside every datastore (training jobs never read it as data) and named per version,
    so a re-run that meets a newer version of the same blob keeps that one too."""
    stamp = since.strftime("%Y%m%dT%H%M%SZ")
    return f"{CONFLICTS_PREFIX}/{container}/{name}~{side}-{stamp}-{version_tag(version)}"


def changed_after(entry: BlobEntry, since: datetime) -> bool:
    """Written after the recovery point; an unknown time counts as changed (the safe side)."""
    return entry.last_modified is None or entry.last_modified > since


def failback_action(
    action: Action,
    since: datetime,
    policy: ConflictPolicy = "keep-both",
    dest_side: str = "primary",
    container: str = "",
    source_since: datetime | None = None,
) -> Action:
    """Fail-back's rule for one action of :func:`diff_sorted` (source: the side that served).

    ``since`` is the recovery point recorded at cut-over: when the listing it came from started,
    so every destination (primary) write after it may be missing from the replica.
    ``source_since`` is when replication into the source last wrote (the end of that run): a
    source blob modified later was written while it served; one modified earlier is a replica
    copy (its Last-Modified is the copy's time, after ``since``). Default: ``since``, the safe
    side. Only what changed in the source is copied back. A destination blob changed after
    ``since`` is never replaced nor deleted without its version being kept: changed on both
    sides is a conflict, and whichever version the policy makes live, the other is saved under
    :func:`conflict_path` (keep-both and prefer-<source side> keep the source live;
    prefer-<destination side> keeps the destination)."""
    src, dst = action.source, action.dest
    if action.kind is ActionKind.DELETE:
        if dst is not None and (changed_after(dst, since) or dst.tier == ARCHIVE):
            return Action(ActionKind.SKIP, action.name, None, dst,
                          f"not deleted: the {dest_side}'s blob changed after the recovery point")  # fmt: skip
        return action
    if action.kind not in (ActionKind.COPY, ActionKind.UPDATE_PROPERTIES) or src is None or dst is None:
        return action
    if not changed_after(src, source_since or since):
        reason = f"unchanged in the source since the recovery point; the {dest_side}'s version is kept"
        return Action(ActionKind.SKIP, action.name, src, dst, reason)
    if not changed_after(dst, since):
        return action
    if policy == f"prefer-{dest_side}":
        keep = conflict_path(container, action.name, "source", since, src)
        return Action(ActionKind.COPY, action.name, src, dst,
                      f"conflict (changed on both sides): the {dest_side}'s version stays ({policy}); "
                      f"the source's version kept as {keep}", action.checkpoint_md5, keep_source_as=keep)  # fmt: skip
    keep = conflict_path(container, action.name, dest_side, since, dst)
    return Action(ActionKind.COPY, action.name, src, dst,
                  f"conflict (changed on both sides): the source's version wins ({policy}); "
                  f"the {dest_side}'s version kept as {keep}", action.checkpoint_md5, keep_dest_as=keep)  # fmt: skip


def failback_thresholds(
    recovery_point: datetime, replicated_until: datetime, flipped_at: datetime, margin: timedelta = CLOCK_MARGIN
) -> tuple[datetime, datetime]:
    """(since, source_since) for :func:`failback_action`. ``recovery_point`` already includes the
    margin (it is a listing start less it). A source blob is the serving side's own write if
    modified after the flip (less the margin); a replica copy if modified before the replication
    ended (plus the margin). Where the two overlap, a blob counts as written there: a conflict, both
    versions kept, never a lost write."""
    return recovery_point, min(replicated_until + margin, flipped_at - margin)


def apply_since(
    actions: Iterable[Action],
    since: datetime,
    policy: ConflictPolicy = "keep-both",
    dest_side: str = "primary",
    container: str = "",
    source_since: datetime | None = None,
) -> Iterator[Action]:
    """:func:`failback_action` over a stream of actions."""
    for action in actions:
        yield failback_action(action, since, policy, dest_side, container, source_since)


def merge_names(*listings: Iterable[str]) -> Iterator[str]:
    """Sorted union of several name-sorted streams (for sharding over source and destination)."""
    import heapq

    last: str | None = None
    for name in heapq.merge(*listings):
        if name != last:
            yield name
            last = name


# ---- shards ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShardPart:
    """Names starting with ``prefix`` (or, if ``exact``, only the blob named ``prefix``)."""

    prefix: str
    exact: bool = False

    def matches(self, name: str) -> bool:
        return name == self.prefix if self.exact else name.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class Shard:
    """A contiguous, name-ordered slice of a container: its parts are disjoint and in order, so
    listing them one after the other yields a sorted stream."""

    parts: tuple[ShardPart, ...] = (ShardPart(""),)
    estimated_blobs: int | None = None

    @property
    def id(self) -> str:
        """Stable across runs while the layout holds: names the shard's checkpoint blob."""
        key = "\n".join(("=" if p.exact else "^") + p.prefix for p in self.parts)
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    def describe(self) -> str:
        def one(p: ShardPart) -> str:
            return repr(p.prefix) if p.exact else (repr(p.prefix + "*") if p.prefix else "*")

        shown = [one(p) for p in self.parts[:3]]
        return ", ".join(shown) + (f" (+{len(self.parts) - 3})" if len(self.parts) > 3 else "")


@dataclass
class _Node:
    prefix: str
    count: int = 0
    exact: int = 0
    children: list[tuple[ShardPart, int]] = field(default_factory=list)


def _close(node: _Node, max_per_shard: int) -> list[tuple[ShardPart, int]]:
    """A closed prefix becomes one part if small enough, else its exact name plus its children."""
    if node.count <= max_per_shard or not node.children:
        return [(ShardPart(node.prefix), node.count)]
    parts = [(ShardPart(node.prefix, exact=True), node.exact)] if node.exact else []
    return parts + node.children


def shard_prefixes(sorted_names: Iterable[str], max_per_shard: int, max_depth: int = 64) -> list[Shard]:
    """Partition a container's name space into prefix shards of at most ``max_per_shard`` blobs.

    One streaming pass over the sorted names: each prefix's names are a contiguous run, so a
    prefix is "closed" (its count known) when the run ends; a closed prefix that is too big is
    replaced by its children (plus the blob named exactly like it). Memory is bounded by the
    open path and the children of big prefixes, not by the blob count. Adjacent small parts are
    then packed into shards of up to ``max_per_shard``. Names sharing more than ``max_depth``
    characters cannot be split further and may exceed the bound. The shards cover the names
    seen; blobs added later under a new first character are picked up by the next run's plan.
    """
    if max_per_shard < 1:
        raise ValueError("max_per_shard must be >= 1")
    stack: list[_Node] = [_Node("")]
    prev: str | None = None
    for name in sorted_names:
        if prev is not None and name <= prev:
            raise ValueError(f"names are not sorted: {name!r} after {prev!r}")
        limit = min(len(prev or ""), len(name), max_depth)
        lcp = 0
        while lcp < limit and prev is not None and prev[lcp] == name[lcp]:
            lcp += 1
        while len(stack) - 1 > lcp:  # runs of longer prefixes end here
            node = stack.pop()
            stack[-1].children.extend(_close(node, max_per_shard))
        for depth in range(len(stack), min(len(name), max_depth) + 1):
            stack.append(_Node(name[:depth]))
        for node in stack:
            node.count += 1
        if len(name) <= max_depth:
            stack[len(name)].exact += 1
        prev = name
    while len(stack) > 1:
        node = stack.pop()
        stack[-1].children.extend(_close(node, max_per_shard))
    root = stack[0]
    if root.count <= max_per_shard or not root.children:
        return [Shard((ShardPart(""),), root.count)]
    return _pack(root.children, max_per_shard)


def _pack(parts: Sequence[tuple[ShardPart, int]], max_per_shard: int) -> list[Shard]:
    """Greedily group adjacent parts (already in name order) into shards of <= max blobs."""
    shards: list[Shard] = []
    current: list[ShardPart] = []
    total = 0
    for part, count in parts:
        if current and total + count > max_per_shard:
            shards.append(Shard(tuple(current), total))
            current, total = [], 0
        current.append(part)
        total += count
    if current:
        shards.append(Shard(tuple(current), total))
    return shards


# ---- what to replicate -------------------------------------------------------------------
def container_excluded(container: str, excludes: Iterable[str]) -> bool:
    """Whether a whole container is excluded: a pattern without '/' matches container names."""
    if container in ALWAYS_EXCLUDED:
        return True
    return any("/" not in pat and fnmatch.fnmatchcase(container, pat) for pat in excludes)


def blob_excluded(container: str, name: str, excludes: Iterable[str]) -> bool:
    """Whether ``container/name`` matches a ``container/path`` exclude pattern (fnmatch; ``*``
    also crosses '/')."""
    path = f"{container}/{name}"
    return any("/" in pat and fnmatch.fnmatchcase(path, pat) for pat in excludes)


def select_containers(
    existing: Iterable[str],
    datastore_containers: Iterable[str],
    patterns: Iterable[str],
    excludes: Iterable[str],
) -> list[str]:
    """Containers of one source account to replicate: those behind the hub's datastores plus
    those matching the plan's patterns, minus excludes; only containers that exist."""
    wanted = set(datastore_containers)
    pats = list(patterns)
    chosen = {c for c in existing if c in wanted or any(fnmatch.fnmatchcase(c, p) for p in pats)}
    return sorted(c for c in chosen if not container_excluded(c, excludes))


def account_pairs(primary: Any, secondary: Any, direction: Direction) -> list[tuple[str, str]]:
    """(source account, destination account) pairs: default -> default, extra[i] -> extra[i].

    ``primary``/``secondary`` are the plan's sides (``storage_account``,
    ``extra_storage_accounts``). A side with fewer extra accounts than the other is a plan
    error: its blobs would have nowhere to go.
    """
    p = [primary.storage_account, *primary.extra_storage_accounts]
    s = [secondary.storage_account, *secondary.extra_storage_accounts]
    if len(p) != len(s):
        raise ValueError(
            f"primary has {len(p)} storage account(s) {p} but secondary has {len(s)} {s}: "
            "extra_storage_accounts must pair up one to one"
        )
    if direction == "to-secondary":
        return list(zip(p, s, strict=True))
    if direction == "to-primary":
        return list(zip(s, p, strict=True))
    raise ValueError(f"direction must be 'to-secondary' or 'to-primary', not {direction!r}")


@dataclass
class ShardCounts:
    """Per-shard outcome counters (additive, so totals are sums of shards)."""

    copied: int = 0
    updated: int = 0
    skipped: int = 0
    archived: int = 0
    deleted: int = 0
    failed: int = 0
    bytes_copied: int = 0
    verified: int = 0
    conflicts: int = 0  # fail-back: changed on both sides since the recovery point
    kept: int = 0  # fail-back: destination blobs kept (not deleted, not replaced) by the rules

    def add(self, other: ShardCounts) -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))
