"""The leader lock: on PostgreSQL exactly one replica runs the jobs (a session advisory lock)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)


class LeaderLock:
    """Holds ``pg_try_advisory_lock(key)`` on a dedicated connection while this process leads.

    The lock dies with the connection, so a killed leader frees it and a follower takes over on its
    next attempt (the next scheduled run, at most one cadence later).
    """

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        # the leadership term: a new value every time the lock is (re)acquired; every order saved
        # in this term carries it (fencing, see backend/execution/reconcile.py)
        self.epoch: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def verify(self) -> bool:
        """Prove, on the lock's own session, that this process still holds the advisory lock."""
        with self._lock:
            if self._conn is None:
                return False
            try:
                held = self._conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key"
                    ),
                    {"key": self._key},
                ).scalar()
                self._conn.commit()
            except Exception:
                log.warning("leader lock connection lost while proving leadership")
                self._drop()
                return False
            return bool(held)

    async def still_leads(self) -> bool:
        return await asyncio.to_thread(self.verify)

    async def acquire(self) -> bool:
        return await asyncio.to_thread(self._acquire)

    def _acquire(self) -> bool:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return True
                except Exception:  # the connection (and with it the lock) is gone
                    log.warning("leader lock connection lost; trying to re-acquire")
                    self._drop()
            conn = self._engine.connect()
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
                self.epoch = time.time_ns() // 1000  # microseconds: a new term
                log.info("scheduler leader lock acquired", extra={"lock_key": self._key})
                return True
            conn.close()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: S110  (best effort: the connection is already broken)
                pass
            self._conn = None

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                self._conn.commit()
                self._conn.close()
            except Exception:
                log.warning("leader lock release failed; closing its connection frees it")
                self._drop()
            self._conn = None
