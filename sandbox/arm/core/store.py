"""Persistent state of the ARM emulator: one SQLite file, so a restart keeps every resource.

Each row is a resource document (what GET returns) plus ``meta``: the emulator's own
bookkeeping that clients never see (LRO deadline, region, provider-private data such as
endpoint keys or a registry's tags).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from foundry_dr_sandbox.arm.core.ids import key


class Store:
    def __init__(self, path: Path | None) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS resources (
                k TEXT PRIMARY KEY, parent TEXT NOT NULL, type TEXT NOT NULL,
                seq INTEGER NOT NULL, doc TEXT NOT NULL, meta TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS by_parent ON resources(parent, type, seq);
            CREATE INDEX IF NOT EXISTS by_type ON resources(type, seq);
            CREATE TABLE IF NOT EXISTS operations (
                id TEXT PRIMARY KEY, doc TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    # ---- resources -----------------------------------------------------------------------
    def get(self, resource_id: str) -> tuple[dict, dict] | None:
        with self._lock:
            row = self._db.execute("SELECT doc, meta FROM resources WHERE k=?", (key(resource_id),)).fetchone()
        return (json.loads(row[0]), json.loads(row[1])) if row else None

    def put(self, resource_id: str, parent_id: str, rtype: str, doc: dict, meta: dict) -> None:
        k = key(resource_id)
        with self._lock:
            row = self._db.execute("SELECT seq FROM resources WHERE k=?", (k,)).fetchone()
            seq = row[0] if row else self._next("seq")
            self._db.execute(
                "INSERT OR REPLACE INTO resources (k, parent, type, seq, doc, meta) VALUES (?,?,?,?,?,?)",
                (k, key(parent_id), rtype.lower(), seq, json.dumps(doc), json.dumps(meta)),
            )

    def delete_tree(self, resource_id: str) -> int:
        """Delete a resource and everything below it (children go with their parent, as in ARM)."""
        k = key(resource_id)
        with self._lock:
            cur = self._db.execute("DELETE FROM resources WHERE k=? OR k LIKE ? ESCAPE '\\'", (k, _like_prefix(k)))
            return cur.rowcount

    def children(self, parent_id: str, rtype: str | None = None) -> list[tuple[dict, dict]]:
        with self._lock:
            if rtype:
                rows = self._db.execute(
                    "SELECT doc, meta FROM resources WHERE parent=? AND type=? ORDER BY seq",
                    (key(parent_id), rtype.lower()),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT doc, meta FROM resources WHERE parent=? ORDER BY seq", (key(parent_id),)
                ).fetchall()
        return [(json.loads(d), json.loads(m)) for d, m in rows]

    def by_type(self, rtype: str, under: str = "") -> list[tuple[dict, dict]]:
        """Every resource of a type, optionally below an id prefix (a subscription, say)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc, meta FROM resources WHERE type=? AND k LIKE ? ESCAPE '\\' ORDER BY seq",
                (rtype.lower(), _like_prefix(key(under)) if under else "%"),
            ).fetchall()
        return [(json.loads(d), json.loads(m)) for d, m in rows]

    def iter_all(self) -> Iterator[tuple[dict, dict]]:
        with self._lock:
            rows = self._db.execute("SELECT doc, meta FROM resources ORDER BY seq").fetchall()
        for d, m in rows:
            yield json.loads(d), json.loads(m)

    # ---- operations (LRO status documents) ----------------------------------------------
    def put_operation(self, op_id: str, doc: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO operations (id, doc) VALUES (?,?)", (op_id, json.dumps(doc)))

    def get_operation(self, op_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM operations WHERE id=?", (op_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # ---- settings (set through the control API; survive a restart) ----------------------
    def get_setting(self, name: str, default=None):
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, name: str, value) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO settings(name, value) VALUES(?,?)", (name, json.dumps(value)))

    # ---- counters ------------------------------------------------------------------------
    def _next(self, name: str) -> int:
        with self._lock:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES(?, 1) ON CONFLICT(name) DO UPDATE SET value=value+1",
                (name,),
            )
            return self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()[0]

    def next_value(self, name: str) -> int:
        return self._next(name)


def _like_prefix(k: str) -> str:
    escaped = k.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"
