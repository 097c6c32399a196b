"""Tables of the market domain (added by its migration)."""
