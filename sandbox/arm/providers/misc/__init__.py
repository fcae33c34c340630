"""Small providers the hubs depend on, one module per namespace (each its own Provider):
Key Vault (vaults, soft delete), Storage (the sandbox's fixed accounts), Application Insights and
the Log Analytics workspace it ingests into,
Cognitive Services (AI Services accounts, soft delete)."""

from foundry_dr_sandbox.arm.core.provider import Provider
from foundry_dr_sandbox.arm.providers.misc import cognitiveservices, insights, keyvault, loganalytics, storage

PROVIDERS: list[Provider] = [
    keyvault.PROVIDER,
    storage.PROVIDER,
    insights.PROVIDER,
    loganalytics.PROVIDER,
    cognitiveservices.PROVIDER,
]

__all__ = ["PROVIDERS"]
