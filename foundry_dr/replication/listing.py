"""Both sides' listings, streamed: a shard's blobs in name order, a few pages ahead.

Memory stays flat at any blob count: a listing is fetched page by page by a background thread
into a small bounded queue (:func:`prefetch`), so source and destination are listed in
parallel, overlap with copying, and at most a few pages are ever in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError

from foundry_dr.blob_sync import BlobEntry, Shard, blob_excluded

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

PAGE_SIZE = 5000  # List Blobs maximum


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


def prefetch(produce: Callable[[], Iterator[BlobEntry]], depth: int = 2) -> Iterator[BlobEntry]:
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
        except BaseException as exc:  # noqa: BLE001 - not swallowed: re-raised in the consumer's thread
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
