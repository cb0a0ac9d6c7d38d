"""The web app: FastAPI app factory, JSON API, pages, templates and static assets."""

from alliance.web.app import create_app

__all__ = ["create_app"]
