"""The read-only SAS a server-side copy hands the destination's service to read the source.

Secrets: this token is the one secret of a copy. It lives only in memory and in the copy
request's source URL; every text that could quote that URL (SDK errors, service messages) goes
through :func:`foundry_dr.replication.blobs.describe_error` / :func:`foundry_dr.redact.redact_text`
before it leaves the engine.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from azure.storage.blob import ContainerSasPermissions, generate_container_sas

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from foundry_dr.clients import ClientFactory

SAS_LIFETIME = timedelta(hours=1)
SAS_RENEW_BEFORE = timedelta(minutes=15)


class SourceSas:
    """A read-only container SAS on the source, renewed before it expires (thread-safe: the copy
    threads share it). Sandbox: signed with the account key (Azurite has no Entra); Azure: a
    user delegation SAS."""

    def __init__(self, factory: ClientFactory, source: BlobServiceClient, account: str, container: str) -> None:
        self.factory = factory
        self.source = source
        self.account = account
        self.container = container
        self._sas: tuple[str, datetime] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        now = datetime.now(UTC)
        with self._lock:
            if self._sas is None or self._sas[1] - now < SAS_RENEW_BEFORE:
                start, expiry = now - timedelta(minutes=5), now + SAS_LIFETIME
                perm = ContainerSasPermissions(read=True)
                account, container = self.account, self.container
                if self.factory.is_sandbox:
                    key = self.factory.sandbox_env["storage_accounts"][account]["key"]
                    token = generate_container_sas(
                        account, container, account_key=key, permission=perm, expiry=expiry, start=start
                    )
                else:
                    udk = self.source.get_user_delegation_key(start, expiry)
                    token = generate_container_sas(
                        account,
                        container,
                        user_delegation_key=udk,
                        permission=perm,
                        expiry=expiry,
                        start=start,
                    )
                self._sas = (token, expiry)
            return self._sas[0]
