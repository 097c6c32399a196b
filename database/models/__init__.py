"""All tables; importing this package registers every one of them on Base.metadata."""

from database.base import Base
from database.models import backtest, challenger, execution, liquidity, market, notify, portfolio  # noqa: F401  (register their tables)
from database.models.core import ModelTrainingRun, RuntimeSetting

__all__ = ["Base", "ModelTrainingRun", "RuntimeSetting"]
