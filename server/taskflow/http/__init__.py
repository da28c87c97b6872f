"""The HTTP adapter: Quart blueprints that translate requests into service calls."""
