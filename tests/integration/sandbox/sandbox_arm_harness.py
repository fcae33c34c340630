"""Reach the ARM emulator with real SDK clients over HTTPS, for provider tests.

Uses the session ``sandbox`` fixture (tests/integration/conftest.py) when it exists; otherwise
serves the ARM app alone on a free port in a background thread (no Azurite needed for
control-plane tests), so provider tests run before or without the full lifecycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from azure.identity import ClientSecretCredential

from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control

MGMT_SCOPE = "https://management.azure.com/.default"


@dataclass
class Arm:
    config: SandboxConfig

    @property
    def ca(self) -> str:
        return str(self.config.ca_path)

    def credential(self, principal: str = "owner") -> ClientSecretCredential:
        p = self.config.principals[principal]
        return ClientSecretCredential(
            self.config.tenant_id,
            p.client_id,
            p.client_secret,
            authority=self.config.authority,
            disable_instance_discovery=True,
            connection_verify=self.ca,
        )

    def client(self, cls: type, principal: str = "owner", **kwargs: object):
        """A mgmt client bound to the sandbox (fast polling: the sandbox's LROs take < 1 s)."""
        return cls(
            self.credential(principal),
            self.subscription,
            base_url=self.config.arm_endpoint,
            credential_scopes=[MGMT_SCOPE],
            connection_verify=self.ca,
            polling_interval=0.1,
            **kwargs,
        )

    @property
    def subscription(self) -> str:
        return "00000000-0000-0000-0000-00000000f0d0"

    def control(self, method: str, path: str, body: object = None) -> object:
        """Call the control API (``/_sandbox/...``), trusting the sandbox CA."""
        return Control(self.config, timeout=10).request(method, path, body)


def _serve_alone(directory: Path) -> Iterator[SandboxConfig]:
    from foundry_dr_sandbox.arm.app import create_arm_app
    from foundry_dr_sandbox.certs import ensure_tls
    from foundry_dr_sandbox.faults import FaultEngine

    config = SandboxConfig.new(directory)
    config.lro_delay_seconds = 0.3
    config.save()
    ensure_tls(config)
    app = create_arm_app(config, FaultEngine(config.request_log_path))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=config.ports["arm"],
            log_level="warning",
            ssl_certfile=str(config.server_cert_path),
            ssl_keyfile=str(config.server_key_path),
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the ARM app did not start"
    try:
        yield config
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def arm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    try:
        config = request.getfixturevalue("sandbox")
    except pytest.FixtureLookupError:
        yield from (Arm(c) for c in _serve_alone(tmp_path_factory.mktemp("arm-sandbox")))
        return
    yield Arm(config)
