"""Train, evaluate and save a model: ``python ai_engine/train_and_save.py --output-dir artifacts``.

Walk-forward evaluation against the baselines, a final fit, an atomic artifact under
``<output-dir>/models/<version>/`` and a ModelTrainingRun row in the configured database
(DATABASE_URL; run ``alembic upgrade head`` first). Exit status: 0 when the run completed (whether
or not it was activated), 1 when it failed (the reason is printed and recorded), 2 for bad
configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script path (python ai_engine/train_and_save.py): Python put ai_engine/ first on
    # sys.path, where signal.py would shadow the standard library's; put the repository root there.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import time


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train_and_save.py",
        description="Train the BUY/HOLD/SELL model with walk-forward evaluation and save a governed artifact.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="artifacts directory (models/<version>/ goes inside); default QT_MODEL_ARTIFACTS_DIR",
    )
    parser.add_argument(
        "--source",
        default=None,
        help="simulated | binance | replay:DIR | replay:FILE | database (default: QT_MARKET_DATA_SOURCE)",
    )
    parser.add_argument(
        "--symbols", default=None, help="comma-separated symbols (default: QT_MODEL_TRAIN_SYMBOLS or top 20)"
    )
    parser.add_argument("--interval", default=None, help="bar interval (default: QT_MODEL_INTERVAL)")
    parser.add_argument("--days", type=int, default=None, help="days of history (default: QT_MODEL_TRAIN_DAYS)")
    parser.add_argument(
        "--horizon", type=int, default=None, help="label horizon in bars (default: QT_MODEL_HORIZON_BARS)"
    )
    parser.add_argument("--seed", type=int, default=None, help="training seed (default: QT_MODEL_SEED)")
    parser.add_argument(
        "--activate",
        choices=["auto", "never", "force"],
        default="auto",
        help="auto: only if every activation gate passes (default); force: activate anyway, recording the failed gates",
    )
    parser.add_argument("--database-url", default=None, help="record the run in this database instead of DATABASE_URL")
    parser.add_argument("--quiet", action="store_true", help="print only the outcome")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from ai_engine.dataset import DataError
    from ai_engine.registry import ModelRegistry
    from ai_engine.training import ActivationPolicy, TrainingRequest, train
    from config.settings import ConfigError, load_settings
    from database.session import make_engine, make_session_factory

    overrides: dict[str, dict[str, object]] = {}
    if args.output_dir is not None:
        overrides["model"] = {"QT_MODEL_ARTIFACTS_DIR": str(args.output_dir.expanduser().resolve())}
    if args.database_url:
        overrides["database"] = {"DATABASE_URL": args.database_url}
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    request = TrainingRequest(
        source=args.source,
        symbols=symbols,
        interval=args.interval,
        days=args.days,
        horizon=args.horizon,
        seed=args.seed,
        activate=ActivationPolicy(args.activate),
    )
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:7.1f}s] {message}", flush=True)

    engine = make_engine(settings.database.effective_url)
    try:
        registry = ModelRegistry(
            settings.model.artifacts_dir, make_session_factory(engine), interval=settings.model.interval
        )
        outcome = train(request, settings, registry, progress=progress)
    except DataError as exc:
        print(f"training failed: data problem: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"training failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"model {outcome.run.version}: {outcome.activation_reason}; saved {outcome.run.model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
