"""Microsoft.Authorization: role assignments and role definitions (extension resources on any scope).

Shapes and error codes from the official examples (Azure/azure-rest-api-specs,
specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/examples/);
see models.py. The engine routes ``{scope}/providers/Microsoft.Authorization/...`` here
(core/ids.py, ``EXTENSION_NAMESPACES``).
"""

from foundry_dr_sandbox.arm.core.provider import Provider
from foundry_dr_sandbox.arm.providers.authorization import models

PROVIDER = Provider(namespace=models.NAMESPACE, provider_path=models.provider_path)

__all__ = ["PROVIDER"]
