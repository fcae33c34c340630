"""An in-memory stand-in for the few Azure Blob Storage calls the replication engine makes, so
the engine's own logic (threads, shards, checkpoints) runs without Azurite: unit tests and the
benchmarks of ``benchmarks/replication_scale.py`` use it. Not a storage emulator: it models only
listing order, ETags, conditional writes and server-side copy from a source URL.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, unquote, urlparse

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

FAKE_KEY = base64.b64encode(b"fake-account-key-for-tests-only!").decode()


@dataclass
class FakeBlob:
    body: bytes
    etag: str
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    content_md5: bytes | None = None
    content_type: str | None = None


def _failed(status: int, code: str) -> HttpResponseError:
    exc = HttpResponseError(message=f"{status} {code}")
    exc.status_code = status
    exc.error_code = code
    return exc


class FakeStore:
    """All accounts of one fake cloud. ``copy_seconds``: time one server-side copy takes."""

    def __init__(self, copy_seconds: float = 0.0) -> None:
        self.accounts: dict[str, dict[str, dict[str, FakeBlob]]] = {}
        self.lock = threading.RLock()
        self._etags = itertools.count(1)
        self.copy_seconds = copy_seconds
        self.copies = 0
        self.active_copies = 0
        self.max_active_copies = 0

    def etag(self) -> str:
        return f'"0x{next(self._etags):016X}"'

    def put(self, account: str, container: str, name: str, body: bytes, **kw: Any) -> FakeBlob:
        with self.lock:
            blob = FakeBlob(body, self.etag(), datetime.now(UTC), content_md5=hashlib.md5(body).digest(), **kw)
            self.accounts.setdefault(account, {}).setdefault(container, {})[name] = blob
            return blob

    def container(self, account: str, container: str) -> dict[str, FakeBlob]:
        try:
            return self.accounts[account][container]
        except KeyError:
            raise ResourceNotFoundError("ContainerNotFound") from None


class FakeFactory:
    """The :class:`foundry_dr.clients.ClientFactory` surface the engine uses."""

    is_sandbox = True
    plan = None

    def __init__(self, store: FakeStore, accounts: tuple[str, ...] = ("src", "dst")) -> None:
        self.store = store
        self.sandbox_env = {"storage_accounts": {a: {"key": FAKE_KEY} for a in accounts}}

    def blob_service(self, account: str, pool: int | None = None) -> FakeService:
        return FakeService(self.store, account)


class FakeService:
    def __init__(self, store: FakeStore, account: str) -> None:
        self.store = store
        self.account_name = account

    def get_container_client(self, container: str) -> FakeContainer:
        return FakeContainer(self.store, self.account_name, container)

    def get_blob_client(self, container: str, name: str) -> FakeBlobClient:
        return FakeBlobClient(self.store, self.account_name, container, name)

    def create_container(self, container: str) -> None:
        with self.store.lock:
            containers = self.store.accounts.setdefault(self.account_name, {})
            if container in containers:
                raise ResourceExistsError("ContainerAlreadyExists")
            containers[container] = {}


def _props(name: str, blob: FakeBlob) -> SimpleNamespace:
    settings = SimpleNamespace(
        content_md5=blob.content_md5,
        content_type=blob.content_type,
        content_encoding=None,
        content_language=None,
        content_disposition=None,
        cache_control=None,
    )
    return SimpleNamespace(
        name=name,
        size=len(blob.body),
        etag=blob.etag,
        content_settings=settings,
        last_modified=blob.last_modified,
        blob_tier="Hot",
        metadata=dict(blob.metadata),
        blob_type="BlockBlob",
        copy=SimpleNamespace(status="success", progress=None),
    )


class FakeContainer:
    def __init__(self, store: FakeStore, account: str, container: str) -> None:
        self.store = store
        self.account_name = account
        self.container_name = container

    def exists(self) -> bool:
        return self.container_name in self.store.accounts.get(self.account_name, {})

    def list_blobs(self, name_starts_with: str | None = None, include: Any = None, **kw: Any) -> Any:
        with self.store.lock:
            blobs = self.store.container(self.account_name, self.container_name)
            prefix = name_starts_with or ""
            items = sorted((n, b) for n, b in blobs.items() if n.startswith(prefix))
        return iter([_props(n, b) for n, b in items])

    def list_blob_names(self, name_starts_with: str | None = None, results_per_page: int = 5000, **kw: Any) -> Any:
        return _Pager([p.name for p in self.list_blobs(name_starts_with)], results_per_page)

    def walk_blobs(self, delimiter: str = "/", **kw: Any) -> Any:
        """The top level: blobs without the delimiter, and one prefix per folder, in name order."""
        seen: list[SimpleNamespace] = []
        for props in self.list_blobs():
            head, sep, _ = props.name.partition(delimiter)
            item = SimpleNamespace(name=head + sep) if sep else props
            if not seen or seen[-1].name != item.name:
                seen.append(item)
        self.walks = getattr(self, "walks", 0) + 1
        return iter(seen)

    def get_blob_client(self, name: str) -> FakeBlobClient:
        return FakeBlobClient(self.store, self.account_name, self.container_name, name)


class _Pager:
    """``ItemPaged`` enough for ``by_page()`` and its ``continuation_token``."""

    def __init__(self, items: list[Any], size: int) -> None:
        self.items, self.size = items, size
        self.continuation_token: str | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def by_page(self) -> Any:
        def pages() -> Any:
            for start in range(0, max(1, len(self.items)), self.size):
                end = start + self.size
                self.continuation_token = str(end) if end < len(self.items) else None
                yield iter(self.items[start:end])

        gen = pages()
        outer = self

        class _Pages:
            def __iter__(self) -> Any:
                return self

            def __next__(self) -> Any:
                return next(gen)

            @property
            def continuation_token(self) -> str | None:
                return outer.continuation_token

        return _Pages()


class _Download:
    def __init__(self, blob: FakeBlob) -> None:
        self._body = blob.body
        self.properties = SimpleNamespace(metadata=dict(blob.metadata), etag=blob.etag)

    def chunks(self) -> Any:
        step = 1 << 20
        return iter([self._body[i : i + step] for i in range(0, len(self._body), step)] or [])

    def readall(self) -> bytes:
        return self._body


class FakeBlobClient:
    def __init__(self, store: FakeStore, account: str, container: str, name: str) -> None:
        self.store = store
        self.account_name = account
        self.container_name = container
        self.blob_name = name
        self.url = f"https://{account}.blob.fake/{container}/{quote(name)}"

    # -- helpers ----------------------------------------------------------------------------
    def _blobs(self, create: bool = False) -> dict[str, FakeBlob]:
        if create:
            return self.store.accounts.setdefault(self.account_name, {}).setdefault(self.container_name, {})
        return self.store.container(self.account_name, self.container_name)

    def _get(self) -> FakeBlob:
        blob = self._blobs().get(self.blob_name)
        if blob is None:
            raise ResourceNotFoundError("BlobNotFound")
        return blob

    def _check(self, current: FakeBlob | None, etag: str | None, match_condition: Any) -> None:
        if match_condition is MatchConditions.IfMissing and current is not None:
            raise _failed(409, "BlobAlreadyExists")
        if match_condition is MatchConditions.IfNotModified and (current is None or current.etag != etag):
            raise _failed(412, "ConditionNotMet")

    # -- the calls --------------------------------------------------------------------------
    def get_blob_properties(self, **kw: Any) -> SimpleNamespace:
        with self.store.lock:
            return _props(self.blob_name, self._get())

    def download_blob(self, etag: str | None = None, match_condition: Any = None, **kw: Any) -> _Download:
        with self.store.lock:
            blob = self._get()
            if match_condition is MatchConditions.IfNotModified and blob.etag != etag:
                raise _failed(412, "ConditionNotMet")
            return _Download(blob)

    def upload_blob(self, data: Any, overwrite: bool = False, metadata: Any = None, content_settings: Any = None,
                    etag: str | None = None, match_condition: Any = None, **kw: Any) -> dict:  # fmt: skip
        body = data if isinstance(data, bytes) else (data.read() if hasattr(data, "read") else b"".join(data))
        with self.store.lock:
            blobs = self._blobs(create=True)
            current = blobs.get(self.blob_name)
            if not overwrite and current is not None:
                raise _failed(409, "BlobAlreadyExists")
            self._check(current, etag, match_condition)
            md5 = getattr(content_settings, "content_md5", None) or hashlib.md5(body).digest()
            blobs[self.blob_name] = FakeBlob(body, self.store.etag(), datetime.now(UTC), dict(metadata or {}), md5)
            return {"etag": blobs[self.blob_name].etag}

    def start_copy_from_url(self, url: str, metadata: Any = None, source_etag: str | None = None,
                            source_match_condition: Any = None, etag: str | None = None,
                            match_condition: Any = None, **kw: Any) -> dict:  # fmt: skip
        parsed = urlparse(url)
        account = parsed.hostname.split(".")[0] if parsed.hostname else ""
        container, _, name = parsed.path.lstrip("/").partition("/")
        with self.store.lock:
            self.store.active_copies += 1
            self.store.max_active_copies = max(self.store.max_active_copies, self.store.active_copies)
        try:
            if self.store.copy_seconds:
                time.sleep(self.store.copy_seconds)
            with self.store.lock:
                source = self.store.container(account, container).get(unquote(name))
                if source is None:
                    raise ResourceNotFoundError("BlobNotFound")
                if source_match_condition is MatchConditions.IfNotModified and source.etag != source_etag:
                    raise _failed(412, "SourceConditionNotMet")
                blobs = self._blobs(create=True)
                self._check(blobs.get(self.blob_name), etag, match_condition)
                copy = FakeBlob(source.body, self.store.etag(), datetime.now(UTC), dict(metadata or {}),
                                source.content_md5, source.content_type)  # fmt: skip
                blobs[self.blob_name] = copy
                self.store.copies += 1
                return {"copy_status": "success", "copy_id": "fake", "etag": copy.etag}
        finally:
            with self.store.lock:
                self.store.active_copies -= 1

    def set_http_headers(self, content_settings: Any = None, etag: str | None = None, match_condition: Any = None,
                         **kw: Any) -> None:  # fmt: skip
        with self.store.lock:
            blob = self._get()
            self._check(blob, etag, match_condition)
            blob.content_md5 = getattr(content_settings, "content_md5", None) or blob.content_md5
            blob.content_type = getattr(content_settings, "content_type", None)
            blob.etag = self.store.etag()

    def set_blob_metadata(self, metadata: Any = None, **kw: Any) -> None:
        with self.store.lock:
            blob = self._get()
            blob.metadata = dict(metadata or {})
            blob.etag = self.store.etag()

    def set_standard_blob_tier(self, tier: Any, **kw: Any) -> None:
        return None

    def delete_blob(self, etag: str | None = None, match_condition: Any = None, **kw: Any) -> None:
        with self.store.lock:
            blobs = self._blobs()
            current = blobs.get(self.blob_name)
            if current is None:
                raise ResourceNotFoundError("BlobNotFound")
            self._check(current, etag, match_condition)
            del blobs[self.blob_name]
