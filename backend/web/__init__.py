"""The operator page: static files served by the app under /ui, talking only to the REST API."""
