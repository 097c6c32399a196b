"""Persistence of runs: liquidity_runs with their liquidity_selections."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from ai_engine.signal import Action
from backend.liquidity.blend import Pick
from backend.liquidity.selection import Selection
from database.models.liquidity import LiquidityRun, LiquiditySelection
from database.session import session_scope

_RUNS = cast(Table, LiquidityRun.__table__)
_PICKS = cast(Table, LiquiditySelection.__table__)
_INS_RUN = insert(_RUNS).returning(_RUNS.c.id)
_INS_PICKS = insert(_PICKS)


def save(sessions: sessionmaker[Session], selection: Selection) -> int:
    """Store one run and its picks in one transaction; returns the run id.

    Core statements (one insert for the run, one executemany for its picks), not the ORM's unit of
    work: this runs at every universe refresh, and a backtest refreshes thousands of times."""
    with session_scope(sessions) as session:
        conn = session.connection()
        run_id = int(
            conn.execute(
                _INS_RUN,
                {
                    "created_at": selection.created_at,
                    "status": selection.status,
                    "market_source": selection.market_source,
                    "data_taken_at": selection.data_taken_at,
                    "model_version": selection.model_version,
                    "blend_mode": selection.blend_mode,
                    "universe_size": int(selection.analytics.get("universe_size", 0)),
                    "eligible_count": int(selection.analytics.get("eligible_count", 0)),
                    "selected_count": len(selection.picks),
                    "duration_seconds": selection.duration_seconds,
                    "problems": dict(selection.problems),
                    "analytics": selection.analytics,
                    "exclusions": selection.exclusions,
                },
            ).scalar_one()
        )
        if selection.picks:
            conn.execute(
                _INS_PICKS,
                [
                    {
                        "run_id": run_id,
                        "rank": rank,
                        "symbol": pick.symbol,
                        "base_asset": pick.base,
                        "weight": pick.weight,
                        "liquidity_score": pick.liquidity_score,
                        "liquidity_component": pick.liquidity_component,
                        "model_score": pick.model_component,
                        "blended_score": pick.blended_score,
                        "model_action": pick.action.value if pick.action is not None else None,
                        "model_confidence": pick.confidence,
                        "strong_sell": pick.strong_sell,
                    }
                    for rank, pick in enumerate(selection.picks, start=1)
                ],
            )
        return run_id


def _to_selection(row: LiquidityRun) -> Selection:
    picks = tuple(
        Pick(
            symbol=s.symbol,
            base=s.base_asset,
            weight=s.weight,
            liquidity_score=s.liquidity_score,
            liquidity_component=s.liquidity_component,
            model_component=s.model_score,
            blended_score=s.blended_score,
            action=Action(s.model_action) if s.model_action else None,
            confidence=s.model_confidence,
            strong_sell=s.strong_sell,
        )
        for s in row.selections
    )
    return Selection(
        created_at=row.created_at,
        status=row.status,
        picks=picks,
        analytics=row.analytics,
        problems=row.problems,
        exclusions=row.exclusions,
        market_source=row.market_source,
        data_taken_at=row.data_taken_at,
        model_version=row.model_version,
        blend_mode=row.blend_mode,
        duration_seconds=row.duration_seconds,
        run_id=row.id,
    )


def load(sessions: sessionmaker[Session], run_id: int) -> Selection | None:
    with sessions() as session:
        row = session.get(LiquidityRun, run_id, options=[selectinload(LiquidityRun.selections)])
        return _to_selection(row) if row is not None else None


def latest(sessions: sessionmaker[Session], *, with_picks: bool) -> Selection | None:
    """The newest run (``with_picks``: the newest that selected something)."""
    query = select(LiquidityRun).options(selectinload(LiquidityRun.selections))
    if with_picks:
        query = query.where(LiquidityRun.selected_count > 0)
    query = query.order_by(LiquidityRun.created_at.desc(), LiquidityRun.id.desc()).limit(1)
    with sessions() as session:
        row = session.scalars(query).first()
        return _to_selection(row) if row is not None else None
