"""The sandbox's emulator process: ARM + token endpoint + control API, Key Vault, storage proxy.

``python -m foundry_dr_sandbox.server --dir DIR`` runs every front in one asyncio loop so that they share
one :class:`~foundry_dr_sandbox.faults.FaultEngine` (an outage of a region is seen by ARM, storage and
scoring calls alike) and one request log. Azurite runs beside it as its own node process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

import uvicorn

from foundry_dr_sandbox.arm.app import create_arm_app
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.faults import FaultEngine
from foundry_dr_sandbox.keyvault_data import create_keyvault_app
from foundry_dr_sandbox.storage_proxy import create_storage_proxy_app


def _server(app, port: int, config: SandboxConfig, tls: bool) -> uvicorn.Server:
    kwargs: dict = {}
    if tls:
        kwargs = {"ssl_certfile": str(config.server_cert_path), "ssl_keyfile": str(config.server_key_path)}
    cfg = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,  # clients keep TLS connections open; don't wait for them
        **kwargs,
    )
    server = uvicorn.Server(cfg)
    server.install_signal_handlers = lambda: None  # one handler for all servers, below
    return server


async def serve(directory: Path) -> None:
    config = SandboxConfig.load(directory)
    faults = FaultEngine(config.request_log_path)
    servers = [
        _server(create_arm_app(config, faults), config.ports["arm"], config, tls=True),
        _server(create_keyvault_app(config, faults), config.ports["keyvault"], config, tls=True),
        _server(create_storage_proxy_app(config, faults), config.ports["storage"], config, tls=False),
    ]

    def stop(*_: object) -> None:
        for s in servers:
            s.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(s.serve() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description="foundry-dr sandbox emulator process")
    parser.add_argument("--dir", required=True, help="sandbox directory holding sandbox.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(Path(args.dir).resolve()))


if __name__ == "__main__":
    main()
