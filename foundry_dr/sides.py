"""The two sides of a plan and the two directions of replication: one vocabulary for every layer.

A *side* is a role in the plan ("primary" is the production region, "secondary" the recovery
region), never a region name, so a plan's regions can change without touching the code. The
settings of one side (subscription, resource group, hub, region) are :class:`foundry_dr.plan.Site`.
"""

from __future__ import annotations

from typing import Literal

Side = Literal["primary", "secondary"]
Direction = Literal["to-secondary", "to-primary"]
SIDES: tuple[Side, Side] = ("primary", "secondary")


def other(side: Side) -> Side:
    """The side that is not ``side``."""
    return "secondary" if side == "primary" else "primary"


def sides_of(direction: Direction) -> tuple[Side, Side]:
    """(source, destination) of a replication in ``direction``."""
    if direction == "to-secondary":
        return "primary", "secondary"
    if direction == "to-primary":
        return "secondary", "primary"
    raise ValueError(f"direction must be 'to-secondary' or 'to-primary', not {direction!r}")


def direction_to(destination: Side) -> Direction:
    """The direction whose destination is ``destination``."""
    return "to-secondary" if destination == "secondary" else "to-primary"
