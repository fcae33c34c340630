"""Both sides' listings, streamed: a shard's blobs in name order, a few pages ahead.

Memory stays flat at any blob count: a listing is fetched page by page by a background thread
into a small bounded queue (:func:`prefetch`), so source and destination are listed in
parallel, overlap with copying, and at most a few pages are ever in memory.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
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


PLANNER_FOLDERS_AHEAD = 4  # top-level folders listed at once by list_names
PLANNER_PAGES_AHEAD = 4  # pages each of them may run ahead of the reader


def list_names(cc: ContainerClient, ahead: int = PLANNER_FOLDERS_AHEAD) -> Iterator[str]:
    """Every blob name of a container, name-sorted, for the shard planner; the top-level folders
    are listed in parallel (up to ``ahead`` at once, each a few pages ahead of the reader), not
    one after the other.

    One listing with the ``/`` delimiter gives the top level in name order: blobs, and folders
    as prefixes. Every name under a folder sorts between the folder's neighbours at the top
    level, so the folders' own listings, read in that order, give the container's sorted order.
    Memory: at most ``ahead`` x :data:`PLANNER_PAGES_AHEAD` pages of names."""
    segments: deque[Iterator[Any] | str] = deque()
    folders = 0
    top = iter(cc.walk_blobs(delimiter="/", results_per_page=PAGE_SIZE))

    def names_under(prefix: str) -> Iterator[str]:
        return iter(cc.list_blob_names(name_starts_with=prefix, results_per_page=PAGE_SIZE))

    def fill() -> bool:
        nonlocal folders
        item = next(top, None)
        if item is None:
            return False
        name = item.name
        if "/" in name:  # a folder (a top-level blob name holds no delimiter)
            segments.append(prefetch(lambda n=name: names_under(n), PLANNER_PAGES_AHEAD))  # type: ignore[misc]
            folders += 1
        else:
            segments.append(name)
        return True

    more = True
    try:
        while True:
            while more and folders < ahead and len(segments) < PAGE_SIZE:
                more = fill()
            if not segments:
                if not more:
                    return
                more = fill()
                continue
            head = segments.popleft()
            if isinstance(head, str):
                yield head
                continue
            folders -= 1
            try:
                yield from head
            finally:
                head.close()  # type: ignore[attr-defined]
    finally:
        for segment in segments:
            if not isinstance(segment, str):
                segment.close()  # type: ignore[attr-defined]


_END = object()


def prefetch(produce: Callable[[], Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    """Run a listing in a background thread, started now, ``depth`` pages ahead: source and
    destination are listed in parallel and overlap with copying, and at most a few pages are
    ever in memory. Closing it (or dropping it) stops the thread."""
    return _Prefetched(produce, depth)


class _Prefetched(Iterator[Any]):
    def __init__(self, produce: Callable[[], Iterator[Any]], depth: int) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = object()
        self._batch: Iterator[Any] = iter(())
        self._finished = False
        threading.Thread(target=self._work, args=(produce,), daemon=True, name="blob-listing").start()

    def _put(self, item: Any) -> bool:  # noqa: ANN401
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, produce: Callable[[], Iterator[Any]]) -> None:
        batch: list[Any] = []
        try:
            for item in produce():
                batch.append(item)
                if len(batch) >= PAGE_SIZE:
                    if not self._put(batch):
                        return
                    batch = []
                elif self._stop.is_set():
                    return
            if self._put(batch):
                self._put(self._done)
        except BaseException as exc:  # noqa: BLE001 - not swallowed: re-raised in the consumer's thread
            self._put(exc)

    def __iter__(self) -> _Prefetched:
        return self

    def __next__(self) -> Any:  # noqa: ANN401
        while True:
            item = next(self._batch, _END)
            if item is not _END:
                return item
            if self._finished:
                raise StopIteration
            got = self._q.get()
            if got is self._done or isinstance(got, BaseException):
                self._finished = True
                self.close()
                if got is self._done:
                    raise StopIteration
                raise got
            self._batch = iter(got)

    def close(self) -> None:
        self._stop.set()

    def __del__(self) -> None:
        self._stop.set()
