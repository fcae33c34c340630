"""The failover lock in Azure: a lease record in the secondary region's storage account.

Rules in :mod:`foundry_dr.lock`. The record is ``foundry-dr/locks/<plan>/<name>.json`` in the
secondary's default account: the region a failover goes to must be up for the failover to make
sense, and no orchestrator owns it. Acquire, renew and release are conditional writes on the
record's ETag, so exactly one of two racing runs wins, whichever Prefect server each runs on.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError

from foundry_dr.errors import LockHeld, LockLost, RecordChanged
from foundry_dr.lock import LockRecord, released, renewed, taken
from foundry_dr.stores.records import read_record, write_record

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from foundry_dr.clients import ClientFactory

log = logging.getLogger("foundry_dr.stores.lock")
POLL_SECONDS = 1.0


def lock_path(plan_name: str, name: str) -> str:
    return f"locks/{plan_name}/{name}.json"


def lock_service(factory: ClientFactory) -> BlobServiceClient:
    return factory.blob_service(factory.plan.secondary.storage_account)


def read_lock(factory: ClientFactory, name: str = "failover") -> LockRecord | None:
    """The lock's record (None: never taken). Raises when the store can't be read."""
    data, _ = read_record(lock_service(factory), lock_path(factory.plan.name, name))
    return LockRecord.model_validate(data) if data else None


class Lease:
    """One acquisition of a lock: renewed in the background until released."""

    def __init__(self, factory: ClientFactory, name: str, *, runbook: str, flow_run_id: str | None,
                 lease_seconds: float) -> None:
        self.factory = factory
        self.name = name
        self.runbook = runbook
        self.flow_run_id = flow_run_id
        self.lease = timedelta(seconds=lease_seconds)
        self.holder = uuid.uuid4().hex
        self.path = lock_path(factory.plan.name, name)
        self.record: LockRecord | None = None
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.lost: str | None = None

    @property
    def token(self) -> int:
        assert self.record is not None, "not acquired"
        return self.record.token

    def acquire(self, wait_seconds: float) -> Lease:
        """Take the lock, waiting up to ``wait_seconds`` for a holder to release it or for its
        lease to expire; then :class:`LockHeld` naming the holder."""
        service = lock_service(self.factory)
        deadline = time.monotonic() + wait_seconds
        while True:
            data, etag = read_record(service, self.path)
            previous = LockRecord.model_validate(data) if data else None
            record = taken(previous, self.factory.plan.name, self.name, self.holder, self.lease,
                           runbook=self.runbook, flow_run_id=self.flow_run_id, host=socket.gethostname())
            if record is not None:
                try:
                    self._etag = write_record(service, self.path, record.model_dump_json().encode(), etag)
                    self.record = record
                    if previous is not None and previous.holder and previous.holder != self.holder:
                        log.warning("took over the expired lease of %s", previous.describe())
                    self._start_renewal()
                    return self
                except RecordChanged:
                    continue  # someone else wrote first: read again
            if time.monotonic() >= deadline:
                assert previous is not None
                raise LockHeld(
                    f"{self.runbook}: the {self.name} lock of plan {self.factory.plan.name} is held by "
                    f"{previous.describe()}; waited {wait_seconds:.0f} s. A crashed holder's lease expires by "
                    "itself; see `foundry-dr status` for the holder"
                )
            time.sleep(POLL_SECONDS)

    def _start_renewal(self) -> None:
        interval = max(0.5, self.lease.total_seconds() / 3)

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.renew()
                except LockLost as exc:
                    log.error("%s", exc)
                    return
                except AzureError as exc:  # transient: the next renewal may work before expiry
                    log.warning("lease renewal of %s failed (%s); retrying", self.path, type(exc).__name__)

        self._thread = threading.Thread(target=loop, daemon=True, name=f"lease-{self.name}")
        self._thread.start()

    def renew(self) -> None:
        with self._mutex:
            if self.record is None or self.lost:
                raise LockLost(self.lost or "not acquired")
            record = renewed(self.record, self.lease)
            try:
                self._etag = write_record(lock_service(self.factory), self.path, record.model_dump_json().encode(),
                                          self._etag)
                self.record = record
            except RecordChanged:
                self.lost = (f"the lease on the {self.name} lock (token {self.record.token}) was taken over by "
                             "another run after it expired")
                raise LockLost(self.lost) from None

    def check(self) -> None:
        """Still the holder, with an unexpired lease: before a pointer write. Else LockLost."""
        with self._mutex:
            if self.lost:
                raise LockLost(self.lost)
            current = read_lock(self.factory, self.name)
            if current is None or current.holder != self.holder or current.token != self.token or not current.held():
                self.lost = (f"this run no longer holds the {self.name} lock (its token {self.token}; now "
                             f"{current.describe() if current else 'no record'}); the pointer was not written")
                raise LockLost(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._mutex:
            if self.record is None or self.lost:
                return
            try:
                write_record(lock_service(self.factory), self.path,
                             released(self.record).model_dump_json().encode(), self._etag)
            except (RecordChanged, AzureError) as exc:  # it expires by itself
                log.warning("lock %s not released (%s); its lease expires at %s", self.path, type(exc).__name__,
                            self.record.expires_at)
