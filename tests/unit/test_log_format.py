"""CCS_LOG_FORMAT: JSON lines (or plain ones) that carry the session and the delivery."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from service.config.log_format import (
    bind_log_context,
    choose_format,
    clear_log_context,
    configure_logging,
    log_context,
)
from service.domain.redaction import redact


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # A request served in this thread earlier (Flask's test client) leaves its ids bound.
    clear_log_context()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_log_context()


def test_plain_on_a_terminal_json_elsewhere_unless_told() -> None:
    assert choose_format(None, Terminal()) == "plain"
    assert choose_format(None, io.StringIO()) == "json"
    assert choose_format("plain", io.StringIO()) == "plain"
    assert choose_format("json", Terminal()) == "json"


def test_every_json_line_names_the_session_and_delivery_bound_to_its_thread(
        restore_root: None) -> None:
    stream = io.StringIO()
    secret = "hook-" + "s3cr3t"
    assert configure_logging("INFO", "json", lambda text: redact(text, (secret,)),
                             stream) == "json"
    log = logging.getLogger("ccs.test")
    log.info("before anything is known")
    with log_context(delivery="d-1"):
        log.info("verified the delivery")
        bind_log_context(session="abc1234567")
        log.warning("started with %s", secret)
    log.info("after")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["session"], r["delivery"]) for r in lines] == [
        (None, None), (None, "d-1"), ("abc1234567", "d-1"), (None, None)]
    assert lines[2]["level"] == "WARNING" and lines[2]["logger"] == "ccs.test"
    assert secret not in lines[2]["message"] and "started with" in lines[2]["message"]


def test_ids_bound_in_one_thread_never_label_another(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "plain", lambda text: text, stream)
    bind_log_context(session="main000000")
    other = threading.Thread(target=lambda: logging.getLogger("t").info("elsewhere"))
    other.start()
    other.join()
    logging.getLogger("t").info("here")
    elsewhere, here = stream.getvalue().splitlines()
    assert "session=" not in elsewhere and elsewhere.endswith("t: elsewhere")
    assert "[session=main000000]" in here


def test_an_exception_travels_in_the_line_masked(restore_root: None) -> None:
    stream = io.StringIO()
    token = "ghp_" + "a1" * 18
    configure_logging("INFO", "json", redact, stream)
    try:
        raise RuntimeError(f"GitHub said no to {token}")
    except RuntimeError:
        logging.getLogger("ccs").exception("a task failed")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert "RuntimeError" in line["exception"] and token not in line["exception"]
