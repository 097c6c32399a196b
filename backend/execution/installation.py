"""This installation's client order id prefix, kept in the database (the one row of `installation`).

Client order ids are deterministic per (run, symbol, side) so a restart can look an order up by
its id; run ids restart at 1 on a fresh database, so two deployments on one Binance account (or
one deployment whose database was reset) would reuse ids Binance has already seen — and Binance
treats a reused id as the same order (a lookup finds the old one; a new order is refused as a
duplicate). The prefix makes every id unique across deployments: "qt" and 6 random lowercase
letters or digits (36^6 ≈ 2·10^9 prefixes), drawn once when the database is first used and kept
with it. It fits Binance's newClientOrderId rule (^[a-zA-Z0-9-_]{1,36}$) with room for the rest.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from database.models.execution import Installation

ALPHABET = string.ascii_lowercase + string.digits
RANDOM_CHARS = 6
ROW_ID = 1
DEFAULT_PREFIX = "qt"  # the backtest and tests without an installation (nothing reaches Binance)


def new_prefix() -> str:
    return DEFAULT_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))


def read_prefix(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        return session.scalar(select(Installation.client_id_prefix).where(Installation.id == ROW_ID))


def installation_prefix(sessions: sessionmaker[Session], *, clock: Callable[[], datetime]) -> str:
    """The prefix kept in this database, drawn and stored on first use (two replicas starting on a
    fresh database at once: the primary key lets one insert win, the other reads it)."""
    found = read_prefix(sessions)
    if found is not None:
        return found
    try:
        with sessions.begin() as session:
            session.add(Installation(id=ROW_ID, client_id_prefix=new_prefix(), created_at=clock()))
    except IntegrityError:
        pass  # another process stored it first
    stored = read_prefix(sessions)
    if stored is None:  # pragma: no cover - the insert either landed or lost to one that did
        raise RuntimeError("installation prefix not stored")
    return stored
