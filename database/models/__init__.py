"""All tables; importing this package registers every one of them on Base.metadata."""

from database.base import Base
from database.models import (  # noqa: F401  (register their tables)
    backtest,
    challenger,
    execution,
    liquidity,
    market,
    notify,
    portfolio,
    snapshots,
)
from database.models.core import ModelTrainingRun, RuntimeSetting

__all__ = ["Base", "ModelTrainingRun", "RuntimeSetting"]
