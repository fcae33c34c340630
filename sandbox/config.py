"""The sandbox's configuration: where it lives, its ports, accounts, keys and principals.

One JSON file (``DIR/sandbox.json``, mode 0600) is the single source of truth. ``sandbox up``
writes it; the emulator process, the storage proxy, ``sandbox env`` and the tests read it.
The product code never imports this module: it reads ``env --json`` output (``DIR/env.json``).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_DIR = ".sandbox"
ENV_DIR_VARIABLE = "FOUNDRY_DR_SANDBOX_DIR"
CLOUD_NAME = "FoundryDrSandbox"
REGIONS = ["eastus", "westus"]

# Storage accounts of the sandbox, by region. Names match deployments/plans/sandbox.yaml.
STORAGE_ACCOUNTS = {
    "stfdreastus": "eastus",  # primary hub's default account
    "stfdreastusdata": "eastus",  # primary's extra blob datastore
    "stfdrwestus": "westus",  # secondary hub's default account
    "stfdrwestusdata": "westus",  # secondary's extra blob datastore
}


# Long-running-operation delays, seconds, by resource type (lower case; "*" for the rest).
# "fast" is the test default: every LRO really needs polling, none waits. "realistic" is the
# order of magnitude Azure takes, so a benchmark can report what the critical path costs there;
# these are assumptions, not measurements (the docs give no SLA for provisioning times): an
# online deployment provisions VMs and pulls its image (minutes), an endpoint is a DNS name and a
# gateway entry (a minute or two), a workspace and a compute cluster a minute or a few.
# ``lro_scale`` multiplies a profile, to run it scaled down (0.01: an 8-minute deployment in 4.8 s).
LRO_PROFILES: dict[str, dict[str, float]] = {
    "fast": {},
    "realistic": {
        "microsoft.machinelearningservices/workspaces": 60,
        "microsoft.machinelearningservices/workspaces/computes": 180,
        "microsoft.machinelearningservices/workspaces/onlineendpoints": 90,
        "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments": 480,
        "microsoft.machinelearningservices/workspaces/batchendpoints": 60,
        "microsoft.machinelearningservices/workspaces/batchendpoints/deployments": 120,
        "microsoft.containerregistry/registries/importimage": 30,
        "microsoft.containerregistry/registries/replications": 300,
        "microsoft.resources/deployments/whatif": 5,
        "*": 20,
    },
}


def sandbox_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The sandbox directory: ``--dir``, else ``$FOUNDRY_DR_SANDBOX_DIR``, else ``./.sandbox``."""
    chosen = explicit or os.environ.get(ENV_DIR_VARIABLE) or DEFAULT_DIR
    return Path(chosen).expanduser().resolve()


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Principal:
    """A service principal the token endpoint knows. ``role`` is Owner or Reader."""

    client_id: str
    client_secret: str
    role: str
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class StorageAccount:
    region: str
    key: str


@dataclass
class SandboxConfig:
    dir: Path
    tenant_id: str
    token_signing_key: str  # HMAC key of the sandbox's own opaque tokens (the registry data plane's)
    ports: dict[str, int]
    storage_accounts: dict[str, StorageAccount]
    principals: dict[str, Principal]
    regions: list[str] = field(default_factory=lambda: list(REGIONS))
    lro_delay_seconds: float = 0.3
    lro_profile: str = "fast"  # a name in LRO_PROFILES
    lro_scale: float = 1.0
    token_rsa_key: str = ""  # PEM of the RSA key Entra-shaped access tokens are signed with (tokens.py)

    # ---- creation / persistence -------------------------------------------------------
    @classmethod
    def new(cls, directory: Path, ports: dict[str, int] | None = None) -> SandboxConfig:
        """A fresh configuration: new keys, secrets and (unless given) free ports."""
        wanted = {"arm": 0, "keyvault": 0, "storage": 0, "azurite": 0}
        wanted.update(ports or {})
        chosen = {name: (port or free_port()) for name, port in wanted.items()}
        from foundry_dr_sandbox.tokens import new_signing_key

        return cls(
            dir=directory,
            tenant_id=str(uuid.uuid4()),
            token_signing_key=secrets.token_hex(32),
            token_rsa_key=new_signing_key(),
            ports=chosen,
            storage_accounts={
                name: StorageAccount(region=region, key=base64.b64encode(secrets.token_bytes(64)).decode())
                for name, region in STORAGE_ACCOUNTS.items()
            },
            principals={
                "owner": Principal(str(uuid.uuid4()), secrets.token_urlsafe(32), "Owner"),
                "reader": Principal(str(uuid.uuid4()), secrets.token_urlsafe(32), "Reader"),
            },
        )

    @property
    def config_path(self) -> Path:
        return self.dir / "sandbox.json"

    @classmethod
    def load(cls, directory: Path) -> SandboxConfig:
        path = directory / "sandbox.json"
        if not path.is_file():
            raise FileNotFoundError(f"no sandbox configured in {directory} (run `foundry-dr sandbox up`)")
        raw = json.loads(path.read_text())
        return cls(
            dir=Path(raw["dir"]),
            tenant_id=raw["tenant_id"],
            token_signing_key=raw["token_signing_key"],
            ports={k: int(v) for k, v in raw["ports"].items()},
            storage_accounts={k: StorageAccount(**v) for k, v in raw["storage_accounts"].items()},
            principals={k: Principal(**v) for k, v in raw["principals"].items()},
            regions=list(raw.get("regions", REGIONS)),
            lro_delay_seconds=float(raw.get("lro_delay_seconds", 0.3)),
            lro_profile=str(raw.get("lro_profile", "fast")),
            lro_scale=float(raw.get("lro_scale", 1.0)),
            token_rsa_key=str(raw.get("token_rsa_key", "")),
        )

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["dir"] = str(self.dir)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.config_path)

    def lro_delay(self, rtype: str, profile: str | None = None, scale: float | None = None) -> float:
        """The delay of a long-running operation on ``rtype`` under a profile (default: this
        sandbox's), scaled; the base ``lro_delay_seconds`` where the profile names no delay."""
        delays = LRO_PROFILES[profile or self.lro_profile]
        base = delays.get(rtype.lower(), delays.get("*"))
        if base is None:
            return self.lro_delay_seconds
        return float(base) * (self.lro_scale if scale is None else scale)

    # ---- derived paths and endpoints --------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.dir / "tls"

    @property
    def ca_path(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def server_cert_path(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def server_key_path(self) -> Path:
        return self.tls_dir / "server.key"

    @property
    def state_path(self) -> Path:
        return self.dir / "arm-state.sqlite"

    @property
    def request_log_path(self) -> Path:
        return self.dir / "requests.jsonl"

    @property
    def azurite_dir(self) -> Path:
        return self.dir / "azurite"

    @property
    def arm_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.ports['arm']}/"

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.ports['arm']}"

    @property
    def control_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.ports['arm']}/_sandbox"

    @property
    def keyvault_uri(self) -> str:
        return f"https://127.0.0.1:{self.ports['keyvault']}/"

    def blob_endpoint(self, account: str) -> str:
        """Accounts are reached through the fault-injecting proxy, path-style like Azurite."""
        return f"http://127.0.0.1:{self.ports['storage']}/{account}"

    def account_region(self, account: str) -> str | None:
        acct = self.storage_accounts.get(account)
        return acct.region if acct else None

    def cloud_metadata(self) -> dict[str, str]:
        """What ``MLClient(cloud=..., cloud_metadata=...)`` needs (keys checked on this machine)."""
        return {
            "azure_portal": "https://portal.azure.com/",
            "resource_manager": self.arm_endpoint,
            "active_directory": self.authority,
            "aml_resource_id": self.arm_endpoint,
            "storage_endpoint": "core.windows.net",
            "registry_discovery_endpoint": self.arm_endpoint,
        }

    def env(self) -> dict:
        """The ``sandbox env --json`` document (its shape is a contract scripts rely on)."""
        owner = self.principals["owner"]
        return {
            "arm_endpoint": self.arm_endpoint,
            "ca_bundle": str(self.ca_path),
            "cloud_name": CLOUD_NAME,
            "cloud_metadata": self.cloud_metadata(),
            "credential": {
                "tenant_id": self.tenant_id,
                "client_id": owner.client_id,
                "client_secret": owner.client_secret,
                "authority": self.authority,
            },
            "reader_credential": {
                "tenant_id": self.tenant_id,
                "client_id": self.principals["reader"].client_id,
                "client_secret": self.principals["reader"].client_secret,
                "authority": self.authority,
            },
            "control_endpoint": self.control_endpoint,
            "keyvault_uri": self.keyvault_uri,
            "regions": list(self.regions),
            "storage_accounts": {
                name: {"region": acct.region, "blob_endpoint": self.blob_endpoint(name), "key": acct.key}
                for name, acct in self.storage_accounts.items()
            },
        }

    @property
    def env_path(self) -> Path:
        """``env --json`` written to a file (0600) so the product's client factory can read it."""
        return self.dir / "env.json"

    def write_env(self) -> None:
        tmp = self.env_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.env(), indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(self.env_path)
