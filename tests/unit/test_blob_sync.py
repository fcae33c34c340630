"""Unit tests of the pure blob replication logic: diff, shards, selection, retry, redaction."""

from __future__ import annotations

import random
import tracemalloc
from types import SimpleNamespace

import pytest
from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseTimeoutError

from foundry_dr.blob_sync import (
    ActionKind,
    BlobEntry,
    ShardCounts,
    account_pairs,
    blob_excluded,
    container_excluded,
    diff_sorted,
    merge_names,
    select_containers,
    shard_prefixes,
)
from foundry_dr.errors import PermanentError, TransientError
from foundry_dr.redact import redact_text
from foundry_dr.retry import is_transient

MD5_A = bytes.fromhex("0cc175b9c0f1b6a831c399e269772661")
MD5_B = bytes.fromhex("92eb5ffee6ae2fec3ad71c777531578f")


def blob(name: str, md5: bytes | None = MD5_A, size: int = 1, etag: str = "e1", **kw: object) -> BlobEntry:
    return BlobEntry(name=name, size=size, etag=etag, content_md5=md5, **kw)  # type: ignore[arg-type]


def kinds(actions) -> dict[str, str]:
    return {a.name: a.kind.value for a in actions}


# ---- diff ----------------------------------------------------------------------------------
def test_new_changed_identical_and_extra() -> None:
    src = [blob("a"), blob("b", MD5_B), blob("c"), blob("d", size=2)]
    dst = [blob("b"), blob("c"), blob("d"), blob("z")]
    assert kinds(diff_sorted(src, dst)) == {"a": "copy", "b": "copy", "c": "skip", "d": "copy"}
    assert kinds(diff_sorted(src, dst, mirror_deletes=True))["z"] == "delete"


def test_checkpoint_skips_unchanged_etag_even_without_md5() -> None:
    src = [blob("a", None, etag="e1"), blob("b", None, etag="e2")]
    dst = [blob("a", MD5_A), blob("b", MD5_A)]
    ck = {"a": "e1", "b": "old"}
    assert kinds(diff_sorted(src, dst, ck)) == {"a": "skip", "b": "copy"}
    # a checkpoint hit needs the destination to exist
    assert kinds(diff_sorted(src, [], ck)) == {"a": "copy", "b": "copy"}


def test_checkpoint_as_sorted_stream_is_consumed_lazily() -> None:
    src = [blob(f"n{i:03d}", None, etag=f"e{i}") for i in range(100)]
    dst = [blob(f"n{i:03d}") for i in range(100)]
    consumed = []

    def stream():
        for i in range(0, 100, 2):
            consumed.append(i)
            yield (f"n{i:03d}", f"e{i}", MD5_A.hex())

    actions = list(diff_sorted(src, dst, stream()))
    assert sum(a.kind is ActionKind.SKIP for a in actions) == 50
    assert next(a for a in actions if a.name == "n000").checkpoint_md5 == MD5_A.hex()


def test_unsorted_listing_is_refused() -> None:
    with pytest.raises(ValueError, match="not sorted"):
        list(diff_sorted([blob("b"), blob("a")], []))


def test_archive_is_skipped_with_reason() -> None:
    (action,) = diff_sorted([blob("a", tier="Archive")], [])
    assert action.kind is ActionKind.SKIP_ARCHIVE and "Archive" in action.reason


def test_same_bytes_other_properties_or_tier_updates_without_copy() -> None:
    src = [blob("a", metadata={"k": "v"}), blob("b", tier="Cool"), blob("c", content_type="text/plain")]
    dst = [blob("a"), blob("b", tier="Hot"), blob("c")]
    assert set(kinds(diff_sorted(src, dst)).values()) == {"update-properties"}


def test_deletes_only_when_mirroring() -> None:
    assert list(diff_sorted([], [blob("x")])) == []
    (action,) = diff_sorted([], [blob("x")], mirror_deletes=True)
    assert action.kind is ActionKind.DELETE


def test_diff_memory_is_flat() -> None:
    """The merge-join holds O(1) entries: peak memory barely moves from 10k to 100k blobs."""

    def listing(n: int):
        return (blob(f"p/{i:07d}") for i in range(n))

    peaks = []
    for n in (10_000, 100_000):
        tracemalloc.start()
        for _ in diff_sorted(listing(n), listing(n)):
            pass
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # other threads of the test process (Prefect services) may allocate meanwhile: allow 2 MiB of
    # noise; 100k entries held in memory would take tens of MiB
    assert peaks[1] < max(peaks[0] * 1.5, 2 * 1024 * 1024), peaks


# ---- shards --------------------------------------------------------------------------------
def _covers_once(names: list[str], shards) -> bool:
    return all(sum(any(p.matches(n) for p in s.parts) for s in shards) == 1 for n in names)


def test_small_container_is_one_shard() -> None:
    (shard,) = shard_prefixes(iter(["a", "b"]), 10)
    assert shard.parts[0].prefix == "" and shard.estimated_blobs == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shards_partition_names_and_respect_bound(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "ab/-_é0"
    names = sorted({"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(3000)})
    shards = shard_prefixes(iter(names), 200)
    assert len(shards) > 1
    assert _covers_once(names, shards)
    assert all((s.estimated_blobs or 0) <= 200 for s in shards)
    for s in shards:  # parts in name order, so the concatenated listing stays sorted
        listed = [n for p in s.parts for n in names if p.matches(n)]
        assert listed == sorted(listed)


def test_exact_name_equal_to_a_split_prefix_is_covered() -> None:
    names = sorted(["data", *[f"data/{i:04d}" for i in range(50)], *[f"datb{i}" for i in range(50)]])
    shards = shard_prefixes(iter(names), 20)
    assert _covers_once(names, shards)
    assert any(p.exact and p.prefix == "data" for s in shards for p in s.parts)


def test_shard_ids_are_stable() -> None:
    names = [f"x{i:05d}" for i in range(1000)]
    assert [s.id for s in shard_prefixes(iter(names), 100)] == [s.id for s in shard_prefixes(iter(names), 100)]


def test_merge_names_is_a_sorted_union() -> None:
    assert list(merge_names(iter(["a", "c"]), iter(["b", "c", "d"]))) == ["a", "b", "c", "d"]


# ---- selection and accounts ----------------------------------------------------------------
def test_select_containers() -> None:
    existing = ["azureml", "training-1", "training-tmp", "scratch-x", "foundry-dr", "other"]
    chosen = select_containers(existing, ["azureml", "missing"], ["training-*", "scratch-*"], ["*-tmp", "scratch-*"])
    assert chosen == ["azureml", "training-1"]


def test_excludes() -> None:
    assert container_excluded("foundry-dr", [])  # our own state is never replicated
    assert blob_excluded("azureml", "ExperimentRun/dcid.1/log.txt", ["azureml/ExperimentRun/*"])
    assert not blob_excluded("azureml", "LocalUpload/x", ["azureml/ExperimentRun/*"])


def test_account_pairs() -> None:
    p = SimpleNamespace(storage_account="pa", extra_storage_accounts=["pd"])
    s = SimpleNamespace(storage_account="sa", extra_storage_accounts=["sd"])
    assert account_pairs(p, s, "to-secondary") == [("pa", "sa"), ("pd", "sd")]
    assert account_pairs(p, s, "to-primary") == [("sa", "pa"), ("sd", "pd")]
    with pytest.raises(ValueError, match="pair up"):
        account_pairs(p, SimpleNamespace(storage_account="sa", extra_storage_accounts=[]), "to-secondary")


def test_counts_add() -> None:
    a, b = ShardCounts(copied=1, bytes_copied=10), ShardCounts(copied=2, failed=1)
    a.add(b)
    assert (a.copied, a.failed, a.bytes_copied) == (3, 1, 10)


# ---- retry predicate -----------------------------------------------------------------------
class _Http(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status_code = status


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_Http(429), True),
        (_Http(500), True),
        (_Http(503), True),
        (_Http(408), True),
        (_Http(400), False),
        (_Http(403), False),
        (_Http(404), False),
        (_Http(409), False),
        (ServiceRequestError("refused"), True),
        (ServiceResponseTimeoutError("read timed out"), True),
        (IncompleteReadError("body cut short"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ValueError("bad plan"), False),
        (TransientError("x"), True),
        (PermanentError("x"), False),
        (None, False),
    ],
)
def test_is_transient(exc: BaseException | None, expected: bool) -> None:
    assert is_transient(exc) is expected


def test_is_transient_follows_cause() -> None:
    try:
        try:
            raise _Http(503)
        except _Http as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_real_azure_exceptions() -> None:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    assert is_transient(ServiceRequestError("connection refused"))
    assert is_transient(ServiceResponseError("reset"))
    err = HttpResponseError("throttled")
    err.status_code = 429
    assert is_transient(err)
    err.status_code = 403
    assert not is_transient(err)


# ---- redaction -----------------------------------------------------------------------------
def test_redact_text() -> None:
    key = "Zm9vYmFyYmF6cXV4cXV1eA=="
    text = f"copy from http://x/c/b?sp=r&sig=SECRET123 failed; AccountKey={key}; key {key}"
    out = redact_text(text, [key])
    assert "SECRET123" not in out and key not in out
