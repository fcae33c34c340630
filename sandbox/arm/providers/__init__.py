"""Resource providers of the ARM emulator, one folder each (moto's layout).

Each provider package exposes ``PROVIDER`` (a :class:`foundry_dr_sandbox.arm.core.provider.Provider`), or
``PROVIDERS`` (a list) when one small folder holds several namespaces (``misc``).
"""

from __future__ import annotations

import importlib

from foundry_dr_sandbox.arm.core.provider import Provider

PROVIDER_MODULES = [
    "foundry_dr_sandbox.arm.providers.resources",
    "foundry_dr_sandbox.arm.providers.machinelearningservices",
    "foundry_dr_sandbox.arm.providers.containerregistry",
    "foundry_dr_sandbox.arm.providers.misc",
    "foundry_dr_sandbox.arm.providers.authorization",
]


def load_providers() -> list[Provider]:
    """Every provider that exists (providers are added one folder at a time)."""
    found: list[Provider] = []
    for name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that provider is not written yet
            raise
        found.extend(module.PROVIDERS if hasattr(module, "PROVIDERS") else [module.PROVIDER])
    return found
