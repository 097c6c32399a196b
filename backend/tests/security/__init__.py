"""Security and bad-input tests (issue 13)."""
