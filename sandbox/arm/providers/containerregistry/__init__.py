"""Microsoft.ContainerRegistry: registries, replications and the importImage action.

ACR's data plane (docker push/pull) is out of scope: each registry's repositories, tags and
digests live in its meta and are read or seeded through the control API
``GET/PUT /_sandbox/registries/{name}/repositories`` (no such ARM action exists in Azure).
"""

from foundry_dr_sandbox.arm.providers.containerregistry.models import PROVIDER

__all__ = ["PROVIDER"]
