"""POST /webhooks/github: verify, parse, record the delivery, dispatch to the queue, respond."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

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
    event = parse_event(name, delivery, _payload(body), own_login=config.bot_login)
    if not store.record_delivery(delivery, name):
        _count(name, "duplicate")
        return jsonify({"status": "duplicate"}), 200
    if isinstance(event, Ignored):
        _count(name, "ignored")
        return jsonify({"status": "ignored", "reason": event.reason}), 200
    enqueue("handle_event", event_to_json(event))
    _count(name, "queued")
    return jsonify({"status": "queued"}), 202


def _payload(body: bytes) -> dict:
    payload = parse_json(body, "the body (set the webhook content type to application/json)")
    return payload if isinstance(payload, dict) else {}


def _count(event: str, outcome: str) -> None:
    metrics().count("ccs_webhooks_total", "Webhook deliveries by event and outcome",
                    event=event[:64], outcome=outcome)
