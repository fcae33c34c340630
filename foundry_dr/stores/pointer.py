"""The active-hub pointer in Azure: one record per region, in each side's default storage account.

Why storage and not Key Vault: a vault is read-only while it fails over (Azure Key Vault
availability and redundancy, "Failover across regions"), and that can last long, so the flip
of an unplanned cut-over can't depend on it. Each region's account holds the record at
``foundry-dr/pointer/<plan>.json``. Every flip must write the secondary region's record (the
region a failover goes to, and where the lock lives) and writes the primary's when it answers,
so the secondary's store always holds the newest record: it is the authority, the primary's a
mirror. Records are ordered by (fencing token, version); the token comes from the failover lock,
so a later holder always wins, and readers take the newest record among the stores that answer.

Readers fail closed. The secondary's store answers: its record (with the primary's, if newer),
or, when it has none, "never flipped" (the primary serves). It fails (401, 403, unreachable,
5xx): an error naming it, unless the caller accepts a stale answer (``allow_stale``): then the
primary mirror's record, labelled STALE with what failed and its age. Never a silent "primary".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from azure.core.exceptions import AzureError

from foundry_dr.errors import LockLost, PointerUnavailable, RecordChanged
from foundry_dr.pointer import ActivePointer, default_pointer, newest
from foundry_dr.stores.records import describe_failure, read_record, write_record

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory
    from foundry_dr.sides import Side

SIDES: tuple[Side, ...] = ("secondary", "primary")
AUTHORITY: Side = "secondary"


def pointer_path(plan_name: str) -> str:
    return f"pointer/{plan_name}.json"


@dataclass
class PointerReading:
    """What the stores said: the winning pointer, where it came from, and what failed."""

    pointer: ActivePointer
    found_in: list[str] = field(default_factory=list)  # sides whose record is the winning one
    failed: dict[str, str] = field(default_factory=dict)  # the authority's store, if it could not be read
    never_flipped: bool = False
    mirror_failed: dict[str, str] = field(default_factory=dict)  # mirror stores that could not be read

    @property
    def source(self) -> str:
        if self.never_flipped:
            where = "never flipped (no record in either region's store)"
        else:
            where = "storage (" + ", ".join(self.found_in) + ")"
        if self.failed:
            age = (datetime.now(UTC) - self.pointer.changed_at).total_seconds()
            stale = "; ".join(f"{s} store unreadable: {why}" for s, why in self.failed.items())
            return f"STALE {where}; {stale}; record age {age:.0f} s"
        if self.mirror_failed:
            where += "; " + "; ".join(f"{s} mirror unreadable: {why}" for s, why in self.mirror_failed.items())
        return where


def read_pointer_detail(factory: ClientFactory, allow_stale: bool = False,
                        sides: tuple[Side, ...] = SIDES) -> PointerReading:
    """Read the records of ``sides`` (every region's by default; a fenced drill reads the
    authority's alone, since the primary's mirror is the primary). See the module docstring."""
    plan = factory.plan
    found: dict[str, ActivePointer] = {}
    failed: dict[str, str] = {}
    for side in sides:
        try:
            data, _ = read_record(factory.blob_service(plan.side(side).storage_account), pointer_path(plan.name))
        except AzureError as exc:
            failed[side] = describe_failure(exc)
            continue
        if data is not None:
            found[side] = ActivePointer.model_validate(data)
    if AUTHORITY in failed and (not allow_stale or not found):
        stores = "; ".join(f"{s} ({plan.side(s).storage_account}): {why}" for s, why in failed.items())
        hint = "" if found else "; no other store holds a record"
        raise PointerUnavailable(
            f"the active-hub pointer of plan {plan.name} cannot be read: {stores}{hint}. Which side serves is "
            "unknown: fix access to the store, or accept the last known value (`foundry-dr status` shows it "
            "marked STALE; --strict refuses it)"
        )
    best = newest(list(found.values()))
    mirror_failed = {s: why for s, why in failed.items() if s != AUTHORITY}
    stale = {s: why for s, why in failed.items() if s == AUTHORITY}
    if best is None:
        return PointerReading(default_pointer(plan), failed=stale, never_flipped=True, mirror_failed=mirror_failed)
    return PointerReading(best, [s for s, p in found.items() if p.order() == best.order()], stale,
                          mirror_failed=mirror_failed)


def read_pointer(factory: ClientFactory, allow_stale: bool = False,
                 sides: tuple[Side, ...] = SIDES) -> tuple[ActivePointer, str]:
    """(pointer, where it came from). Raises :class:`PointerUnavailable` rather than guess."""
    reading = read_pointer_detail(factory, allow_stale, sides)
    return reading.pointer, reading.source


def write_pointer_records(
    factory: ClientFactory, pointer: ActivePointer, required: tuple[Side, ...] = (AUTHORITY,)
) -> dict[str, str]:
    """Write ``pointer`` to every region's store, the secondary's first; those in ``required``
    (always including the secondary's, the authority) must succeed. A store
    holding a record of a later lock holder (higher fencing token) refuses the write:
    :class:`LockLost`. Returns side -> "written" or why not."""
    plan = factory.plan
    outcome: dict[str, str] = {}
    for side in SIDES:
        service = factory.blob_service(plan.side(side).storage_account)
        try:
            for _ in range(3):
                data, etag = read_record(service, pointer_path(plan.name))
                if data is not None and ActivePointer.model_validate(data).fencing_token > pointer.fencing_token:
                    raise LockLost(
                        f"the {side} store holds a pointer written under a later lock (token "
                        f"{data.get('fencing_token')} > {pointer.fencing_token}); this run's flip was not written"
                    )
                try:
                    write_record(service, pointer_path(plan.name), pointer.model_dump_json().encode(), etag)
                    outcome[side] = "written"
                    break
                except RecordChanged:
                    continue
            else:
                raise RecordChanged(f"the {side} pointer record kept changing")
        except (AzureError, RecordChanged) as exc:
            outcome[side] = f"not written: {describe_failure(exc)}"
            if side in required or side == AUTHORITY:
                raise PointerUnavailable(
                    f"the pointer could not be written to the {side} store ({plan.side(side).storage_account}): "
                    f"{describe_failure(exc)}; the flip did not happen"
                ) from exc
    return outcome
