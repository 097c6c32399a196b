"""Tables of the liquidity domain (added by its migration)."""
