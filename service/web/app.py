"""The Flask app factory: bind the services, register the blueprints and JSON errors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from sqlalchemy import text

from service.config import Config
from service.config.log_format import clear_log_context
from service.web import errors, stream
from service.web import metrics as metrics_module
from service.web.openapi import document

if TYPE_CHECKING:
    from service.bootstrap import Services

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    """Build the web app around `services` (wired from `config` by bootstrap when absent)."""
    if services is None:
        from service.bootstrap import service

        services = service(config or Config.from_env())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = services.config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = metrics_module.Metrics()
    app.extensions["ccs"] = {"services": services, "metrics": metrics}
    errors.register(app)
    stream.init_app(app, services.config.max_streams)
    metrics_module.init_app(app, metrics, services.store.session_status_counts)
    _register_blueprints(app)
    _register_service_routes(app, services)
    # A request's ids must not label the thread's next request; they are cleared when the
    # next one starts, not at teardown, so that gunicorn's access line still carries them.
    app.before_request(clear_log_context)
    return app


def _register_blueprints(app: Flask) -> None:
    from service.web.api import bp as api
    from service.web.callbacks import bp as callbacks
    from service.web.dashboard import bp as dashboard
    from service.web.logs import bp as logs
    from service.web.stream import bp as events
    from service.web.webhooks import bp as webhooks

    for blueprint in (webhooks, api, events, logs, callbacks, dashboard):
        app.register_blueprint(blueprint)


def _register_service_routes(app: Flask, services: Services) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        """Answer 200 when the database answers, else 503."""
        try:
            with services.store.engine.connect() as connection:
                connection.execute(text("select 1"))
        except Exception:
            log.warning("health check: database unreachable", exc_info=True)
            return errors.error_response(503, "database_unreachable",
                                         "the database does not answer")
        return jsonify({"status": "ok"})

    @app.get("/openapi.json")
    def openapi() -> Any:
        """Serve the OpenAPI document."""
        return jsonify(document(services.config.public_url))
