"""Backtesting: the live trading path (liquidity, predictor, planner, risk guard, paper exchange,
ledger) driven bar by bar on a replay clock over recorded or simulated history, with baselines.

Entry points: `run_backtest(config, data, clock)` (backend.backtest.engine) and the CLI
``python -m backend.backtest``.
"""
