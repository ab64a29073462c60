"""POST /webhooks/github: verify, parse, record the delivery, dispatch to the queue, respond."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from service.adapters.db.service_queries import DONE, NEW
from service.config.log_format import bind_log_context
from service.domain.events import Ignored
from service.web.bodies import parse_json
from service.web.errors import ApiError
from service.web.github_events import parse_event
from service.web.signature import verify_signature
from service.web.state import enqueue, metrics, services
from service.worker.handlers import event_to_json

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/github")
def github_webhook():
    """Accept one GitHub delivery; slow work runs in a queue task, never here."""
    config, store = services().config, services().store
    name = request.headers.get("X-GitHub-Event", "unknown")
    if config.webhook_secret is None:
        raise ApiError(503, "webhook_secret_missing",
                       "CCS_WEBHOOK_SECRET is not set, so no webhook can be verified")
    body = request.get_data(cache=True)
    if not verify_signature(config.webhook_secret.reveal().encode(), body,
                            request.headers.get("X-Hub-Signature-256")):
        # The event header is unverified here: keep attacker text out of metric labels.
        _count("unverified", "bad_signature")
        raise ApiError(401, "bad_signature", "X-Hub-Signature-256 is missing or wrong")
    delivery = request.headers.get("X-GitHub-Delivery", "").strip()
    if not delivery or len(delivery) > 64:
        raise ApiError(400, "bad_delivery", "X-GitHub-Delivery is missing or too long")
    bind_log_context(delivery=delivery)
    event = parse_event(name, delivery, _payload(body), own_login=config.bot_login)
    # The typed event is stored with its delivery id before the answer (the durable
    # inbox): if every process dies after the 2xx, reconcile re-drives it (DESIGN §8).
    payload = None if isinstance(event, Ignored) else event_to_json(event)
    state = store.record_event(delivery, name, payload)
    if state == DONE and payload is not None:
        _count(name, "duplicate")
        return jsonify({"status": "duplicate"}), 200
    if payload is None:
        _count(name, "ignored")
        return jsonify({"status": "ignored", "reason": event.reason}), 200
    # NEW, or PENDING: a redelivery of a delivery that never took effect takes effect now.
    enqueue("handle_event", delivery)
    _count(name, "queued" if state == NEW else "redriven")
    return jsonify({"status": "queued"}), 202


def _payload(body: bytes) -> dict:
    payload = parse_json(body, "the body (set the webhook content type to application/json)")
    return payload if isinstance(payload, dict) else {}


def _count(event: str, outcome: str) -> None:
    metrics().count("ccs_webhooks_total", "Webhook deliveries by event and outcome",
                    event=event[:64], outcome=outcome)
