"""Response and request models, one module per area; they are the OpenAPI contract."""
