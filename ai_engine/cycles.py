"""Retraining cycles and shadow predictions in the database (model_retrain_cycles, model_shadow_predictions).

A cycle is ``training`` while its worker process trains the challenger, then ``rejected`` (a gate
failed), ``failed`` (the run or its worker broke) or ``shadowing``; a shadowing cycle ends
``promoted`` (the challenger beat the champion on live bars and is now active), ``kept`` (it did
not; the champion stays) or ``cancelled`` (the champion changed by hand meanwhile). A challenger
that passed every gate with no champion to beat is ``promoted`` at once. Every transition is
appended to ``steps`` with its time and reason.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from ai_engine.runs import jsonable
from database.models.challenger import ModelRetrainCycle, ModelShadowPrediction
from database.session import session_scope

TRAINING, REJECTED, FAILED, SHADOWING = "training", "rejected", "failed", "shadowing"
PROMOTED, KEPT, CANCELLED = "promoted", "kept", "cancelled"
OPEN_STATUSES = (TRAINING, SHADOWING)


@dataclass(frozen=True)
class CycleRecord:
    id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    run_id: int | None
    challenger_version: str | None
    champion_version: str | None
    worker_pid: int | None
    shadow_after: datetime | None
    shadow_bars: int | None
    reason: str | None
    result: dict[str, Any] | None
    steps: list[dict[str, Any]]

    @classmethod
    def of(cls, row: ModelRetrainCycle) -> CycleRecord:
        return cls(
            row.id,
            row.status,
            row.started_at,
            row.finished_at,
            row.run_id,
            row.challenger_version,
            row.champion_version,
            row.worker_pid,
            row.shadow_after,
            row.shadow_bars,
            row.reason,
            row.result,
            list(row.steps or []),
        )


@dataclass(frozen=True)
class ShadowRow:
    symbol: str
    open_time: datetime
    close: float
    champion_version: str | None
    champion_proba: list[float] | None
    challenger_proba: list[float]
    forward_return: float | None = None
    label: int | None = None


class CycleStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    # cycles -------------------------------------------------------------------------------------
    def create(self, champion_version: str | None) -> CycleRecord:
        now = self._clock()
        step = {"time": now.isoformat(), "status": TRAINING, "reason": "challenger training started"}
        with session_scope(self._sessions) as session:
            row = ModelRetrainCycle(status=TRAINING, started_at=now, champion_version=champion_version, steps=[step])
            session.add(row)
            session.flush()
            return CycleRecord.of(row)

    def update(self, cycle_id: int, **values: Any) -> None:
        with session_scope(self._sessions) as session:
            session.execute(update(ModelRetrainCycle).where(ModelRetrainCycle.id == cycle_id).values(**values))

    def transition(
        self, cycle_id: int, status: str, reason: str, *, expect: Sequence[str] | None = None, **values: Any
    ) -> CycleRecord | None:
        """Move a cycle to ``status`` (recording the step); None when it is not in ``expect`` any more."""
        now = self._clock()
        with session_scope(self._sessions) as session:
            row = session.get(ModelRetrainCycle, cycle_id, with_for_update=True)
            if row is None or (expect is not None and row.status not in expect):
                return None
            row.status = status
            row.reason = reason[:4000]
            if status not in OPEN_STATUSES:
                row.finished_at = now
            for name, value in values.items():
                setattr(row, name, jsonable(value) if name == "result" else value)
            row.steps = [*(row.steps or []), {"time": now.isoformat(), "status": status, "reason": reason[:1000]}]
            session.flush()
            return CycleRecord.of(row)

    def get(self, cycle_id: int) -> CycleRecord | None:
        with self._sessions() as session:
            row = session.get(ModelRetrainCycle, cycle_id)
            return CycleRecord.of(row) if row is not None else None

    def open_cycle(self) -> CycleRecord | None:
        """The cycle in training or shadowing (at most one: the job starts one only when none is open)."""
        with self._sessions() as session:
            row = session.scalar(
                select(ModelRetrainCycle)
                .where(ModelRetrainCycle.status.in_(OPEN_STATUSES))
                .order_by(ModelRetrainCycle.id.desc())
                .limit(1)
            )
            return CycleRecord.of(row) if row is not None else None

    def latest(self) -> CycleRecord | None:
        with self._sessions() as session:
            row = session.scalar(select(ModelRetrainCycle).order_by(ModelRetrainCycle.id.desc()).limit(1))
            return CycleRecord.of(row) if row is not None else None

    def for_run(self, run_id: int) -> CycleRecord | None:
        with self._sessions() as session:
            row = session.scalar(
                select(ModelRetrainCycle).where(ModelRetrainCycle.run_id == run_id).order_by(ModelRetrainCycle.id)
            )
            return CycleRecord.of(row) if row is not None else None

    def list(self, limit: int = 20) -> list[CycleRecord]:
        with self._sessions() as session:
            rows = session.scalars(select(ModelRetrainCycle).order_by(ModelRetrainCycle.id.desc()).limit(limit))
            return [CycleRecord.of(r) for r in rows]

    # shadow predictions -------------------------------------------------------------------------
    def last_recorded(self, cycle_id: int) -> dict[str, datetime]:
        """symbol -> open time of its newest recorded bar."""
        with self._sessions() as session:
            rows = session.execute(
                select(ModelShadowPrediction.symbol, func.max(ModelShadowPrediction.open_time))
                .where(ModelShadowPrediction.cycle_id == cycle_id)
                .group_by(ModelShadowPrediction.symbol)
            ).all()
        return {str(symbol): when for symbol, when in rows}

    def bar_times(self, cycle_id: int) -> int:
        """How many distinct bar times are recorded."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count(func.distinct(ModelShadowPrediction.open_time))).where(
                        ModelShadowPrediction.cycle_id == cycle_id
                    )
                )
                or 0
            )

    def add_predictions(self, cycle_id: int, rows: Sequence[ShadowRow]) -> int:
        if not rows:
            return 0
        now = self._clock()
        with session_scope(self._sessions) as session:
            for r in rows:
                session.add(
                    ModelShadowPrediction(
                        cycle_id=cycle_id,
                        symbol=r.symbol,
                        open_time=r.open_time,
                        recorded_at=now,
                        close=r.close,
                        champion_version=r.champion_version,
                        champion_proba=r.champion_proba,
                        challenger_proba=r.challenger_proba,
                    )
                )
        return len(rows)

    def predictions(self, cycle_id: int, *, pending_only: bool = False) -> builtins.list[tuple[int, ShadowRow]]:
        query = select(ModelShadowPrediction).where(ModelShadowPrediction.cycle_id == cycle_id)
        if pending_only:
            query = query.where(ModelShadowPrediction.forward_return.is_(None))
        with self._sessions() as session:
            rows = session.scalars(query.order_by(ModelShadowPrediction.open_time, ModelShadowPrediction.symbol))
            return [
                (
                    r.id,
                    ShadowRow(
                        r.symbol,
                        r.open_time,
                        r.close,
                        r.champion_version,
                        r.champion_proba,
                        r.challenger_proba,
                        r.forward_return,
                        r.label,
                    ),
                )
                for r in rows
            ]

    def set_outcomes(self, outcomes: dict[int, tuple[float, int]]) -> None:
        if not outcomes:
            return
        with session_scope(self._sessions) as session:
            for row_id, (forward, label) in outcomes.items():
                session.execute(
                    update(ModelShadowPrediction)
                    .where(ModelShadowPrediction.id == row_id)
                    .values(forward_return=forward, label=label)
                )
