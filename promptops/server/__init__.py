"""The promptops HTTP server (FastAPI) and its dashboard: ``create_app(project)`` (a Project or a Config)."""

from .app import create_app

__all__ = ["create_app"]
