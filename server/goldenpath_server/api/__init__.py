"""HTTP layer: parse, call the Platform, map GoldenpathError to JSON. No logic lives here."""

from goldenpath_server.api._app import create_app

__all__ = ["create_app"]
