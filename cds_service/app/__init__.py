"""HTTP: the only stage that knows about requests and responses."""

from cds_service.app.application import create_app

__all__ = ["create_app"]
