"""Microsoft.Resources: resource groups (and template deployments / what-if in models.py)."""

from foundry_dr_sandbox.arm.providers.resources.models import PROVIDER

__all__ = ["PROVIDER"]
