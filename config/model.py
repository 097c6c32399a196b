"""Model settings: artifact location, labelling, retention and staleness."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from config.base import REPO_ROOT, Section, SymbolList, tunable


class ModelSettings(Section):
    artifacts_dir: Path = Field(
        Path("artifacts"),
        alias="QT_MODEL_ARTIFACTS_DIR",
        description="Directory holding models/<version>/ (relative to the repository root).",
    )
    interval: str = Field(
        "1h",
        alias="QT_MODEL_INTERVAL",
        pattern=r"^(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d)$",
        description="Bar interval the model is trained and scored on.",
    )
    horizon_bars: int = Field(
        4,
        alias="QT_MODEL_HORIZON_BARS",
        ge=1,
        le=500,
        description="Forward-return horizon of the labels, in bars.",
    )
    label_threshold: float = Field(
        0.004,
        alias="QT_MODEL_LABEL_THRESHOLD",
        gt=0,
        lt=1,
        description="Forward return beyond which a bar is labelled BUY (or SELL below its negative).",
    )
    keep_versions: int = Field(
        5,
        alias="QT_MODEL_KEEP_VERSIONS",
        ge=1,
        le=1000,
        description="Completed model versions kept on disk; older ones are pruned.",
    )
    max_age_hours: float = Field(
        720.0,
        alias="QT_MODEL_MAX_AGE_HOURS",
        ge=0,
        le=87_600,
        description="A model older than this is not used (health degraded); 0 = no limit.",
        json_schema_extra=tunable(),
    )
    label_vol_scaled: bool = Field(
        False,
        alias="QT_MODEL_LABEL_VOL_SCALED",
        description="1 scales the label threshold by each bar's 48-bar volatility relative to the symbol's median.",
    )
    train_days: int = Field(
        90,
        alias="QT_MODEL_TRAIN_DAYS",
        ge=1,
        le=3650,
        description="Days of history a training run uses by default.",
    )
    train_symbols: SymbolList = Field(
        default_factory=list,
        alias="QT_MODEL_TRAIN_SYMBOLS",
        description="Comma-separated symbols to train on; empty = the source's trading symbols (up to 20).",
    )
    folds: int = Field(
        4,
        alias="QT_MODEL_FOLDS",
        ge=1,
        le=20,
        description="Walk-forward evaluation folds (expanding window).",
    )
    embargo_bars: int = Field(
        2,
        alias="QT_MODEL_EMBARGO_BARS",
        ge=0,
        le=1000,
        description="Bars dropped after the purge gap between each training window and its test window.",
    )
    seed: int = Field(
        7, alias="QT_MODEL_SEED", ge=0, le=2**32 - 1, description="Seed of training (same seed, same model)."
    )
    boost_rounds: int = Field(
        100,
        alias="QT_MODEL_BOOST_ROUNDS",
        ge=1,
        le=5000,
        description="XGBoost boosting rounds per fit.",
    )
    max_depth: int = Field(3, alias="QT_MODEL_MAX_DEPTH", ge=1, le=16, description="XGBoost tree depth.")
    learning_rate: float = Field(
        0.05, alias="QT_MODEL_LEARNING_RATE", gt=0, le=1, description="XGBoost learning rate (eta)."
    )
    threads: int = Field(
        2, alias="QT_MODEL_THREADS", ge=1, le=256, description="Threads XGBoost uses for training and inference."
    )
    economic_gate: bool = Field(
        True,
        alias="QT_MODEL_ECONOMIC_GATE",
        description=(
            "1 trades every out-of-sample fold through the backtest engine, with and without the model, and "
            "auto-activates only a model whose blend beats liquidity-only net of costs; 0 skips that gate."
        ),
    )
    retrain_hours: float = Field(
        0.0,
        alias="QT_MODEL_RETRAIN_HOURS",
        ge=0,
        le=8760,
        description=(
            "Every this many hours the model-retrain job trains a challenger on the latest data in a worker "
            "process; 0 = no scheduled retraining."
        ),
        json_schema_extra=tunable(),
    )
    shadow_bars: int = Field(
        48,
        alias="QT_MODEL_SHADOW_BARS",
        ge=1,
        le=10_000,
        description=(
            "Live bars a challenger that passed every gate is shadowed for (predictions recorded, not traded) "
            "before it is compared with the champion."
        ),
    )
    cycle_check_seconds: int = Field(
        300,
        alias="QT_MODEL_CYCLE_CHECK_SECONDS",
        ge=1,
        le=86_400,
        description=(
            "With retraining on, how often the model-retrain job checks whether a challenger is due and the "
            "model-shadow job records a shadowing challenger's predictions on the bars that closed."
        ),
    )
    auto_train: bool = Field(
        True,
        alias="QT_MODEL_AUTO_TRAIN",
        description="make run trains a default model on the configured source when none is active.",
    )

    @field_validator("artifacts_dir", mode="after")
    @classmethod
    def _resolve(cls, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else REPO_ROOT / value
