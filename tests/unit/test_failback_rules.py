"""Fail-back's blob rules: nothing newer is ever overwritten; both-sides changes are conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foundry_dr.blob_sync import ActionKind, BlobEntry, apply_since, conflict_name, diff_sorted

T = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BEFORE, AFTER = T - timedelta(minutes=5), T + timedelta(minutes=5)


def blob(name: str, content: bytes, modified: datetime) -> BlobEntry:
    import hashlib

    return BlobEntry(
        name=name,
        size=len(content),
        etag=f"{name}-{modified.timestamp()}",
        content_md5=hashlib.md5(content).digest(),
        last_modified=modified,
    )


def actions(src: list[BlobEntry], dst: list[BlobEntry], policy: str = "keep-both") -> dict[str, object]:
    return {a.name: a for a in apply_since(diff_sorted(src, dst), T, policy, "primary")}


def test_only_changes_after_the_recovery_point_go_back() -> None:
    src = [
        blob("a", b"secondary new", AFTER),
        blob("b", b"old replica", BEFORE),
        blob("c", b"only in secondary", AFTER),
    ]
    dst = [blob("a", b"primary old", BEFORE), blob("b", b"primary newer", AFTER)]
    got = actions(src, dst)
    assert got["a"].kind is ActionKind.COPY and got["a"].keep_dest_as is None  # primary untouched since: overwrite
    assert got["b"].kind is ActionKind.SKIP and "kept" in got["b"].reason  # never replace a newer primary blob
    assert got["c"].kind is ActionKind.COPY  # new in the secondary


def test_a_blob_lost_in_the_primary_is_restored_from_the_replica() -> None:
    got = actions([blob("lost", b"replica", BEFORE)], [])
    assert got["lost"].kind is ActionKind.COPY


@pytest.mark.parametrize(
    ("policy", "kind", "keeps"),
    [
        ("keep-both", ActionKind.COPY, True),
        ("prefer-primary", ActionKind.SKIP, False),
        ("prefer-secondary", ActionKind.COPY, False),
    ],
)
def test_changed_on_both_sides_follows_the_policy(policy: str, kind: ActionKind, keeps: bool) -> None:
    got = actions([blob("x", b"secondary edit", AFTER)], [blob("x", b"primary edit", AFTER)], policy)["x"]
    assert got.kind is kind and got.reason.startswith("conflict")
    assert (got.keep_dest_as == conflict_name("x", "primary", T)) is keeps


def test_identical_on_both_sides_is_not_a_conflict() -> None:
    got = actions([blob("same", b"equal", AFTER)], [blob("same", b"equal", AFTER)])
    assert got["same"].kind is ActionKind.SKIP and not got["same"].reason.startswith("conflict")
