"""The sandbox's local CA and server certificate.

Azure SDK bearer-token policies refuse plain http, so the ARM emulator and the Key Vault data
plane serve HTTPS. A throwaway CA made with ``trustme`` signs one certificate for 127.0.0.1 and
localhost; clients trust it through ``ca_bundle`` in ``env --json`` (``REQUESTS_CA_BUNDLE`` or
``connection_verify=``). The files are created once and kept, so clients that already pinned
the CA path keep working across restarts.
"""

from __future__ import annotations

import os

import trustme

from foundry_dr_sandbox.config import SandboxConfig


def ensure_tls(config: SandboxConfig) -> None:
    """Create ``ca.pem``, ``server.pem`` (chain) and ``server.key`` in ``config.tls_dir``, once."""
    paths = (config.ca_path, config.server_cert_path, config.server_key_path)
    if all(p.is_file() for p in paths):
        return
    config.tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.tls_dir, 0o700)
    ca = trustme.CA(organization_name="foundry-dr sandbox")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    # The key first, created 0600, so it is never readable by others even for a moment.
    fd = os.open(config.server_key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(leaf.private_key_pem.bytes())
    config.server_cert_path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(str(config.ca_path))
