"""The promptops HTTP server (FastAPI) and its dashboard: ``create_app(config)``."""

from .app import create_app

__all__ = ["create_app"]
