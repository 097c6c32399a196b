"""The liquidity universe: filter chain, ranking, blend with the model, analytics and the service."""
