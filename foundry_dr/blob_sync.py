"""What blob replication has to do, decided without touching Azure (pure; unit-tested).

Blob listings come back sorted by name, so the source listing, the destination listing and
the previous run's checkpoint (written in the same order) are merged like three sorted files:
one pass, constant memory at any blob count. ``tasks/storage.py`` feeds the listings page by
page and acts on the resulting ``Action`` stream; ``shard_prefixes`` cuts a large container into
name-prefix shards so that each shard is one Prefect task (never one task per blob).
"""

from __future__ import annotations

import bisect
import enum
import fnmatch
import hashlib
import heapq
import json
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


# Shard layouts: prefix parts from a radix split of the names, packed into shards whose
# boundaries are chosen by the parts themselves (a hash of the part's prefix), so growth or
# shrinkage moves a boundary only where a part appears, splits or disappears, never everywhere
# after it. A checkpoint is readable across layouts (:func:`merge_checkpoints`).
@dataclass
class _Node:
    prefix: str
    count: int = 0
    exact: int = 0
    children: list[tuple[ShardPart, int]] = field(default_factory=list)


def _lcp(a: str, b: str) -> int:
    """Length of the common prefix (slices compare in C: a few comparisons, not a char loop)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _attach(node: _Node, parent: _Node, max_per_shard: int) -> None:
    """Close ``node`` into ``parent``: one part named by the parent's prefix and the node's first
    character (so it also covers later names under that character), if small enough; otherwise
    the node's own children (and the blob named exactly like the node)."""
    parent.count += node.count
    if node.count <= max_per_shard or not node.children:
        parent.children.append((ShardPart(node.prefix[: len(parent.prefix) + 1]), node.count))
        return
    if node.exact:
        parent.children.append((ShardPart(node.prefix, exact=True), node.exact))
    parent.children.extend(node.children)


def shard_prefixes(sorted_names: Iterable[str], max_per_shard: int) -> list[Shard]:
    """Partition a container's name space into prefix shards of at most ``max_per_shard`` blobs
    (a single name prefix holding more than that in blobs named exactly alike is impossible, so
    the bound always holds).

    One streaming pass over the sorted names builds the branching points of their radix tree
    (a stack of open prefixes, one per depth where names diverge, so a prefix shared by all the
    names of a folder, however long, costs nothing and still splits where they diverge). A
    closed prefix that holds too many blobs is replaced by its children (plus the blob named
    exactly like it). Memory is bounded by the open path and the parts of big prefixes, not by
    the blob count. The parts are then grouped into shards by :func:`pack_parts`. The shards
    cover the names seen; a blob added later under a prefix no shard holds is picked up by the
    next run's plan.
    """
    if max_per_shard < 1:
        raise ValueError("max_per_shard must be >= 1")
    stack: list[_Node] = [_Node("")]
    prev: str | None = None
    for name in sorted_names:
        if prev is not None:
            if name <= prev:
                raise ValueError(f"names are not sorted: {name!r} after {prev!r}")
            lcp = _lcp(prev, name)
            while len(stack[-1].prefix) > lcp:
                node = stack.pop()
                if len(stack[-1].prefix) < lcp:  # the two names diverge below the parent
                    stack.append(_Node(name[:lcp]))
                _attach(node, stack[-1], max_per_shard)
        if name == stack[-1].prefix:  # only the empty name can equal an open prefix here
            stack[-1].exact += 1
            stack[-1].count += 1
        else:
            stack.append(_Node(name, count=1, exact=1))
        prev = name
    while len(stack) > 1:
        node = stack.pop()
        _attach(node, stack[-1], max_per_shard)
    root = stack[0]
    if root.count <= max_per_shard or not root.children:
        return [Shard((ShardPart(""),), root.count)]
    parts = ([(ShardPart("", exact=True), root.exact)] if root.exact else []) + root.children
    return pack_parts(parts, max_per_shard)


CUT_ONE_IN = 4  # a part starts a new shard (once the shard is half full) with this odds, by its hash


def _cuts_before(part: ShardPart) -> bool:
    key = ("=" if part.exact else "^") + part.prefix
    return hashlib.blake2b(key.encode(), digest_size=2).digest()[0] % CUT_ONE_IN == 0


def pack_parts(parts: Sequence[tuple[ShardPart, int]], max_per_shard: int) -> list[Shard]:
    """Group adjacent parts (in name order) into shards of at most ``max_per_shard`` blobs.

    A shard ends before a part that would overflow it, or, once it is half full, before a part
    whose prefix hashes to a cut (one in :data:`CUT_ONE_IN`). Greedy packing alone moves every
    boundary after the first part that grows; here a boundary is mostly a property of the part
    after it, so after a change the layouts agree again a few parts later and most shards (and
    their checkpoints) keep their ids."""
    shards: list[Shard] = []
    current: list[ShardPart] = []
    total = 0
    for part, count in parts:
        if current and (total + count > max_per_shard or (2 * total >= max_per_shard and _cuts_before(part))):
            shards.append(Shard(tuple(current), total))
            current, total = [], 0
        current.append(part)
        total += count
    if current:
        shards.append(Shard(tuple(current), total))
    return shards


def _parts_overlap(a: ShardPart, b: ShardPart) -> bool:
    if a.exact and b.exact:
        return a.prefix == b.prefix
    if a.exact:
        return a.prefix.startswith(b.prefix)
    if b.exact:
        return b.prefix.startswith(a.prefix)
    return a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix)


class PartIndex:
    """Which of a layout's parts (disjoint, in any order) hold a name: a bisection, not a scan,
    so a shard of thousands of small parts is as quick to test as one of a single part.

    Why one candidate suffices: every prefix of a name sorts at or before it, and any key between
    a part's prefix and a name under it starts with that prefix, i.e. would overlap the part."""

    def __init__(self, parts: Iterable[ShardPart]) -> None:
        self.parts = sorted(parts, key=lambda p: (p.prefix, p.exact))
        self._keys = [p.prefix for p in self.parts]

    def covers(self, name: str) -> bool:
        i = bisect.bisect_right(self._keys, name) - 1
        return i >= 0 and self.parts[i].matches(name)

    def overlaps(self, other: Iterable[ShardPart]) -> bool:
        """Whether some name could be in both ``other`` and these parts."""
        for part in other:
            i = bisect.bisect_right(self._keys, part.prefix) - 1  # an ancestor, or the part itself
            if i >= 0 and _parts_overlap(self.parts[i], part):
                return True
            if not part.exact:  # a descendant
                j = bisect.bisect_left(self._keys, part.prefix)
                if j < len(self._keys) and self._keys[j].startswith(part.prefix):
                    return True
        return False


# ---- checkpoints across layouts --------------------------------------------------------------
def parts_to_text(parts: Iterable[ShardPart]) -> str:
    """A layout's parts as ASCII JSON (blob metadata values are HTTP header values)."""
    return json.dumps([("=" if p.exact else "^") + p.prefix for p in parts], separators=(",", ":"))


def parts_from_text(text: str) -> tuple[ShardPart, ...]:
    items = json.loads(text)
    if not isinstance(items, list) or not all(isinstance(i, str) and i[:1] in ("=", "^") for i in items):
        raise ValueError("not a list of shard parts")
    return tuple(ShardPart(i[1:], exact=i[0] == "=") for i in items)


@dataclass(frozen=True)
class CheckpointFile:
    """One shard checkpoint file of a container, as its listing shows it. ``parts`` is what the
    file speaks for; None when unknown (written by an older version: it then counts only for the
    shard of the same id, as it always did). ``rank`` sorts files oldest first."""

    path: str
    shard_id: str
    parts: tuple[ShardPart, ...] | None
    rank: tuple[Any, ...]


def merge_checkpoints(
    shard: Shard, sources: Sequence[tuple[tuple[ShardPart, ...], tuple[Any, ...], Iterable[tuple[str, ...]]]]
) -> Iterator[tuple[str, ...]]:
    """The checkpoint records that hold for ``shard``'s names, from the files of any layouts.

    ``sources`` are ``(parts, rank, records)``: what a file speaks for, its age (larger is
    newer) and its name-sorted records. For each name the authority is the newest file whose
    parts cover it, even when that file has no record for the name: a missing record is a
    decision (not verified, re-copy failed), and an older file's record must not revive it. So a
    shard whose boundaries changed still reads every record its blobs had, and never one that a
    later run withdrew. Streaming: a merge of the sorted files, one record of each at a time."""
    mine = PartIndex(shard.parts)
    ordered = sorted(sources, key=lambda s: s[1])
    indexes = [PartIndex(parts) for parts, _, _ in ordered]
    relevant = [k for k, index in enumerate(indexes) if index.overlaps(shard.parts)]

    def tagged(k: int) -> Iterator[tuple[str, int, tuple[str, ...]]]:
        for record in ordered[k][2]:
            yield record[0], k, record

    newer = {k: [j for j in relevant if j > k] for k in relevant}
    for name, k, record in heapq.merge(*(tagged(k) for k in relevant)):
        if mine.covers(name) and not any(indexes[j].covers(name) for j in newer[k]):
            yield record


def superseded_checkpoints(files: Iterable[CheckpointFile], layout: Sequence[Shard]) -> list[str]:
    """Paths of checkpoint files that no longer speak for any name: not a shard of ``layout``
    (this run's, which covers every name listed), and every shard of it that overlaps them has a
    file of its own that is newer. Deleting them loses nothing: each of their names now has a
    newer authority, or was not in the listing (a blob written later gets a new ETag, which no
    old record matches). A file whose parts are unknown overlaps every shard."""
    files = list(files)
    by_id = {f.shard_id: f for f in files}
    current = {s.id for s in layout}
    stale = []
    for f in files:
        if f.shard_id in current:
            continue
        index = PartIndex(f.parts) if f.parts is not None else None
        overlapping = [s for s in layout if index is None or index.overlaps(s.parts)]
        if all(s.id in by_id and by_id[s.id].rank > f.rank for s in overlapping):
            stale.append(f.path)
    return stale


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
