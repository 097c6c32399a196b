"""HTTP surface: thin routes, dependency aliases, admin security and response schemas."""
