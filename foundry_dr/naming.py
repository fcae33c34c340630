"""Azure naming rules and region names, checked before anything talks to Azure.

A typo in a resource name found by ARM at 3 a.m., halfway through a failover, is far
worse than one found by ``foundry-dr plan validate``. Each rule returns an error message
(or ``None``) instead of raising, so callers can collect every problem at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

# Programmatic region names per cloud (``az account list-locations --query [].name``).
PUBLIC_REGIONS: tuple[str, ...] = (
    "eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus",
    "southcentralus", "westcentralus", "canadacentral", "canadaeast", "brazilsouth",
    "brazilsoutheast", "mexicocentral", "chilecentral", "northeurope", "westeurope", "uksouth",
    "ukwest", "francecentral", "francesouth", "germanywestcentral", "germanynorth",
    "switzerlandnorth", "switzerlandwest", "norwayeast", "norwaywest", "swedencentral",
    "swedensouth", "polandcentral", "italynorth", "spaincentral", "austriaeast", "belgiumcentral",
    "denmarkeast", "uaenorth", "uaecentral", "qatarcentral", "israelcentral", "southafricanorth",
    "southafricawest", "australiaeast", "australiasoutheast", "australiacentral",
    "australiacentral2", "newzealandnorth", "centralindia", "southindia", "westindia",
    "jioindiawest", "jioindiacentral", "japaneast", "japanwest", "koreacentral", "koreasouth",
    "eastasia", "southeastasia", "indonesiacentral", "malaysiawest",
)  # fmt: skip
US_GOVERNMENT_REGIONS: tuple[str, ...] = (
    "usgovvirginia", "usgovarizona", "usgovtexas", "usgoviowa", "usdodcentral", "usdodeast",
)  # fmt: skip
CHINA_REGIONS: tuple[str, ...] = (
    "chinanorth", "chinaeast", "chinanorth2", "chinaeast2", "chinanorth3", "chinaeast3",
)  # fmt: skip

# The sandbox emulates public regions (eastus/westus), so it accepts their names.
REGIONS: dict[str, tuple[str, ...]] = {
    "AzureCloud": PUBLIC_REGIONS,
    "AzureUSGovernment": US_GOVERNMENT_REGIONS,
    "AzureChinaCloud": CHINA_REGIONS,
    "sandbox": PUBLIC_REGIONS,
}
ALL_REGIONS: tuple[str, ...] = PUBLIC_REGIONS + US_GOVERNMENT_REGIONS + CHINA_REGIONS


def show(value: object, limit: int = 40) -> str:
    """Quote a value for an error message, shortened so a pasted blob never floods the output."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def check_region(value: str) -> str | None:
    """A known programmatic region name of any cloud; suggests the closest one otherwise."""
    if value in ALL_REGIONS:
        return None
    squashed = value.replace(" ", "").lower()
    if squashed in ALL_REGIONS:
        return f"{show(value)} is a display name; use the programmatic name {squashed!r}"
    close = difflib.get_close_matches(squashed, ALL_REGIONS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{show(value)} is not a known Azure region name{hint}"


def check_region_in_cloud(value: str, cloud: str) -> str | None:
    """The region belongs to the plan's cloud (``eastus`` is not a US Government region)."""
    regions = REGIONS.get(cloud)
    if regions is None or value in regions or value not in ALL_REGIONS:
        return None  # unknown cloud or unknown region is reported by its own rule
    return f"{show(value)} is not a region of cloud {cloud} (e.g. {', '.join(regions[:3])})"


@dataclass(frozen=True)
class NameRule:
    """One Azure naming rule: a regex (also published in the JSON schema) plus a human summary."""

    kind: str
    pattern: str
    summary: str
    extra: Callable[[str], str | None] | None = None

    def check(self, value: str) -> str | None:
        """``None`` when ``value`` is a valid name of this kind, else why not."""
        if not re.fullmatch(self.pattern, value):
            return f"{show(value)} is not a valid {self.kind}: {self.summary}"
        return self.extra(value) if self.extra else None


def _not_ending_in_period(value: str) -> str | None:
    if value.endswith("."):
        return f"{show(value)} is not a valid resource group name: must not end with '.'"
    return None


def _no_double_hyphen(value: str) -> str | None:
    if "--" in value:
        return f"{show(value)} is not a valid key vault name: no consecutive hyphens"
    return None


GUID = NameRule(
    "subscription id",
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "a GUID like 00000000-0000-0000-0000-000000000000",
)
PLAN_NAME = NameRule(
    "plan name",
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?",
    "1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
)
RESOURCE_GROUP = NameRule(
    "resource group name",
    r"[\w().-]{1,90}",
    "1-90 letters, digits, underscores, parentheses, hyphens and periods",
    _not_ending_in_period,
)
WORKSPACE = NameRule(
    "workspace name",
    r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}",
    "3-33 letters, digits, hyphens and underscores, starting with a letter or digit",
)
STORAGE_ACCOUNT = NameRule("storage account name", r"[a-z0-9]{3,24}", "3-24 lowercase letters and digits")
CONTAINER_REGISTRY = NameRule("container registry name", r"[A-Za-z0-9]{5,50}", "5-50 letters and digits")
KEY_VAULT = NameRule(
    "key vault name",
    r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]",
    "3-24 letters, digits and hyphens, starting with a letter, not ending with a hyphen",
    _no_double_hyphen,
)
KEY_VAULT_SECRET = NameRule(
    "key vault secret name", r"[A-Za-z0-9-]{1,127}", "1-127 letters, digits and hyphens"
)
APPLICATION_INSIGHTS = NameRule(
    "application insights name",
    r"[\w().-]{0,259}[\w()-]",
    "1-260 letters, digits, underscores, parentheses, hyphens and periods, not ending with '.'",
)
LOG_ANALYTICS = NameRule(
    "Log Analytics workspace name",
    r"[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]",
    "4-63 letters, digits and hyphens, starting and ending with a letter or digit",
)
AI_SERVICES = NameRule(
    "AI Services account name",
    r"[A-Za-z0-9][A-Za-z0-9-]{0,62}[A-Za-z0-9]",
    "2-64 letters, digits and hyphens, starting and ending with a letter or digit",
)
CONNECTION = NameRule(  # the connectionName path parameter of the ML REST spec: ^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$
    "connection name",
    r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}",
    "3-33 letters, digits, hyphens and underscores, starting with a letter or digit",
)
ENDPOINT = NameRule(  # azure-ai-ml's own check of endpoint and deployment names (EndpointConfigurations)
    "endpoint name",
    r"[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]",
    "3-32 letters, digits and hyphens, starting with a letter and ending with a letter or digit",
)
PREFECT_VARIABLE = NameRule(
    "Prefect variable name", r"[a-z0-9_]{1,255}", "1-255 lowercase letters, digits and underscores"
)
NAME_SUFFIX = NameRule(
    "deployment name suffix", r"[a-z0-9-]{1,16}", "1-16 lowercase letters, digits and hyphens"
)
CONTAINER_PATTERN = NameRule(
    "container name pattern",
    r"[a-z0-9*?\[\]!-]{1,63}",
    "a glob over container names: lowercase letters, digits, hyphens and * ? [ ] !",
)
