"""Tables of the execution domain (added by its migration)."""
