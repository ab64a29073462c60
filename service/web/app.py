"""The Flask app factory: one Config, one Store, the queue, blueprints and JSON errors."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from service.adapters.db.engine import make_engine, upgrade
from service.adapters.db.store import Store
from service.adapters.queue import TaskQueue
from service.auth.oidc import OidcVerifier
from service.config import Config
from service.web import errors
from service.web import metrics as metrics_module
from service.web.openapi import document
from service.worker.handlers import Runtime
from service.worker.tasks import Services, build_services, inline_queue, install

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, *, runtime: Runtime | None = None,
               store: Store | None = None, queue: TaskQueue | str | None = None,
               oidc_verifier: OidcVerifier | None = None, migrate: bool = False) -> Flask:
    """Build the web app; `queue="inline"` runs tasks in the request (tests only)."""
    config = config or Config.from_env()
    if store is None:
        url = config.service_database_url()
        engine = make_engine(url)
        if migrate and config.auto_migrate:
            upgrade(url, engine)
        store = Store(engine)
    services = build_services(config, store=store, runtime=runtime,
                              queue=None if queue == "inline" else queue)  # type: ignore[arg-type]
    if queue == "inline":
        services.queue = inline_queue(lambda: services)
    install(services)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = metrics_module.Metrics()
    app.extensions["ccs"] = {"services": services, "metrics": metrics, "oidc": oidc_verifier}
    errors.register(app)
    metrics_module.init_app(app, metrics, store.session_status_counts)
    _register_blueprints(app)
    _register_service_routes(app, services)
    return app


def _register_blueprints(app: Flask) -> None:
    from service.web.api import bp as api
    from service.web.callbacks import bp as callbacks
    from service.web.dashboard import bp as dashboard
    from service.web.webhooks import bp as webhooks

    for blueprint in (webhooks, api, callbacks, dashboard):
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
