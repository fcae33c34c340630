"""The copy threads of one replication run, shared by all its shards in this process.

Prefect's default task runner has no worker cap (``max_workers = sys.maxsize``): with a pool per
shard, every running shard adds its own ``concurrency`` copy threads (about 3,200 at 10 million
blobs). Here the shards of one run that execute in one process submit their copies to one
bounded executor, keyed by the run (``ShardJob.pool_key``): the plan's
``replication.concurrency`` caps concurrent copies across the whole run, and the copy threads
never exceed it, however many shards there are. A distributed runner (Dask) gets one such pool
per worker process.

The pool lives while a shard (or the run, :func:`hold`) uses it, and its threads end with the
last user. A shard never leaves copies of its own running behind (:class:`ShardSubmitter`): on
its way out, copies not yet started are cancelled and running ones are waited for, so a retry of
the shard never races the copies of the attempt before it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_LOCK = threading.Lock()


@dataclass
class _Shared:
    executor: ThreadPoolExecutor
    cap: int
    users: int = 0


_POOLS: dict[str, _Shared] = {}


def _acquire(key: str, cap: int) -> ThreadPoolExecutor:
    with _LOCK:
        shared = _POOLS.get(key)
        if shared is None:
            executor = ThreadPoolExecutor(cap, thread_name_prefix=f"blob-copy-{key[:8]}")
            shared = _POOLS[key] = _Shared(executor, cap)
        shared.users += 1
        return shared.executor


def _release(key: str) -> None:
    with _LOCK:
        shared = _POOLS.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users > 0:
            return
        del _POOLS[key]
    shared.executor.shutdown(wait=False)  # idle: its threads end (nothing of ours is queued)


@contextlib.contextmanager
def hold(key: str, cap: int) -> Iterator[None]:
    """Keep the run's pool (and its threads) alive for the block, between one shard and the next."""
    _acquire(key, cap)
    try:
        yield
    finally:
        _release(key)


@contextlib.contextmanager
def copy_pool(key: str | None, cap: int) -> Iterator[ShardSubmitter]:
    """The shard's way into the copy threads: the run's shared pool (``key``), or a pool of its
    own of ``cap`` threads (``key`` None, e.g. a shard run outside :mod:`foundry_dr.tasks`)."""
    if key is None:
        executor = ThreadPoolExecutor(cap, thread_name_prefix="blob-copy")
        submitter = ShardSubmitter(executor)
        try:
            yield submitter
        finally:
            submitter.close()
            executor.shutdown(wait=True)
        return
    executor = _acquire(key, cap)
    submitter = ShardSubmitter(executor)
    try:
        yield submitter
    finally:
        try:
            submitter.close()
        finally:
            _release(key)


class ShardSubmitter:
    """One shard's submissions to a (possibly shared) executor, tracked so that the shard can
    cancel and wait for exactly its own work when it ends."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self._executor = executor
        self._pending: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future = self._executor.submit(fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def close(self) -> None:
        """Cancel what has not started; wait for what runs (its outcome is dropped: not in the
        checkpoint, so the next run compares that blob again)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        wait(pending)


def active_pools() -> dict[str, int]:
    """Run key -> users of its pool (for tests and benchmarks)."""
    with _LOCK:
        return {key: shared.users for key, shared in _POOLS.items()}
