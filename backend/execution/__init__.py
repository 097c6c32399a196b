"""Execution: exchange-rule quantisation, the pure order planner, the ledger and the rebalance cycle."""
