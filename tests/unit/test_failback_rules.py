"""Fail-back's blob rules: nothing newer is ever overwritten; both-sides changes are conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foundry_dr.blob_sync import ActionKind, BlobEntry, apply_since, conflict_path, diff_sorted

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
    return {a.name: a for a in apply_since(diff_sorted(src, dst), T, policy, "primary", "data")}


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
    ("policy", "live"),
    [("keep-both", "source"), ("prefer-primary", "destination"), ("prefer-secondary", "source")],
)
def test_changed_on_both_sides_keeps_both_whatever_the_policy(policy: str, live: str) -> None:
    """The policy picks which version stays live; the other is always kept (never lost)."""
    src, dst = blob("x", b"secondary edit", AFTER), blob("x", b"primary edit", AFTER)
    got = actions([src], [dst], policy)["x"]
    assert got.kind is ActionKind.COPY and got.reason.startswith("conflict")
    if live == "source":
        assert got.keep_dest_as == conflict_path("data", "x", "primary", T, dst) and got.keep_source_as is None
    else:
        assert got.keep_source_as == conflict_path("data", "x", "source", T, src) and got.keep_dest_as is None
    kept = got.keep_dest_as or got.keep_source_as
    assert kept.startswith("conflicts/data/")  # outside every datastore's folders


def test_conflict_copies_are_named_per_version() -> None:
    """A re-run that meets a newer primary version keeps it under a name of its own."""
    first, second = blob("x", b"primary v1", AFTER), blob("x", b"primary v2", AFTER + timedelta(seconds=1))
    assert conflict_path("c", "x", "primary", T, first) != conflict_path("c", "x", "primary", T, second)


def test_mirror_deletes_never_delete_what_changed_in_the_destination_after_the_recovery_point() -> None:
    dst = [blob("new-in-primary", b"written after", AFTER), blob("old", b"replicated long ago", BEFORE)]
    got = {a.name: a for a in apply_since(diff_sorted([], dst, mirror_deletes=True), T, "keep-both", "primary")}
    assert got["new-in-primary"].kind is ActionKind.SKIP and "not deleted" in got["new-in-primary"].reason
    assert got["old"].kind is ActionKind.DELETE  # deleted in the secondary while it served


def test_identical_on_both_sides_is_not_a_conflict() -> None:
    got = actions([blob("same", b"equal", AFTER)], [blob("same", b"equal", AFTER)])
    assert got["same"].kind is ActionKind.SKIP and not got["same"].reason.startswith("conflict")
