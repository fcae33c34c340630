"""ARM resource ids, built in one place with the SDK's own ``azure.mgmt.core.tools``.

Pure: ids are strings; building them needs no Azure call. Parsing goes through
``azure.mgmt.core.tools.parse_resource_id`` where it is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.mgmt.core.tools import resource_id

if TYPE_CHECKING:
    from foundry_dr.plan import Plan
    from foundry_dr.sides import Side

ML = "Microsoft.MachineLearningServices"


def arm_id(sub: str, rg: str, rtype: str, name: str) -> str:
    """Resource id of ``Namespace/type[/child...]`` named ``parent[/child...]`` in a resource group."""
    namespace, *types = rtype.split("/")
    names = name.split("/")
    if len(types) != len(names) or not types:
        raise ValueError(f"resource type {rtype!r} and name {name!r} do not pair up")
    children: dict[str, str] = {}
    for level, (child_type, child_name) in enumerate(zip(types[1:], names[1:], strict=True), start=1):
        children[f"child_type_{level}"] = child_type
        children[f"child_name_{level}"] = child_name
    return resource_id(subscription=sub, resource_group=rg, namespace=namespace, type=types[0], name=names[0],
                       **children)


def workspace_id(plan: Plan, side: Side, workspace: str) -> str:
    """The id of hub or project ``workspace`` on ``side`` of the plan."""
    site = plan.side(side)
    return arm_id(site.subscription_id, site.resource_group, f"{ML}/workspaces", workspace)
