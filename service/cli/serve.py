"""`ccs serve`, `ccs worker` and `ccs db upgrade`: the service's processes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.workers.gthread import ThreadWorker

from service.cli.supervise import WORKER_STOP_SECONDS, WorkerSupervisor, worker_command
from service.config import Config, ConfigError, mask_url_password
from service.config.log_format import (
    ContextFilter,
    choose_format,
    configure_logging,
    make_formatter,
)

log = logging.getLogger("ccs.service")
IN_PROCESS_WORKER_THREADS = 2
# Threads of a web worker beyond its event streams, for the ordinary requests.
REQUEST_THREADS = 8


def _config() -> Config | None:
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"ccs: {error}", file=sys.stderr)
        return None
    configure_logging(config.log_level, config.log_format, config.redact)
    return config


def db(args: argparse.Namespace) -> int:
    """Apply every migration to the service database."""
    from service.adapters.db.engine import upgrade

    config = _config()
    if config is None:
        return 2
    ensure_data_folder(config)
    url = config.service_database_url()
    upgrade(url)
    print(f"database {mask_url_password(url)} is up to date")
    return 0


def worker(args: argparse.Namespace) -> int:
    """Consume the queue (and run the periodic reconcile) until SIGTERM or SIGINT."""
    from service.bootstrap import worker_queue

    config = _config()
    if config is None:
        return 2
    queue = worker_queue(config)
    # Start-up re-drives every answered delivery a crash left without effect and resumes
    # every session a killed process left mid-step (DESIGN §8).
    queue.enqueue("resume", 0)
    # SIGTERM finishes the running tasks and stops (what process managers send).
    consumer = queue.huey.create_consumer(workers=max(1, args.threads), worker_type="thread",
                                          periodic=True, graceful_signal="TERM")
    consumer.run()
    return 0


def serve(args: argparse.Namespace) -> int:
    """Migrate, start one queue worker process unless told not to, then run gunicorn."""
    from service.adapters.db.engine import upgrade
    from service.adapters.queue import is_redis

    config = _config()
    if config is None:
        return 2
    log.info("settings: %s", config.describe())  # secrets and URL passwords masked
    problems = config.service_problems()
    if problems:
        # Refuse to start half-configured: every problem on a line of its own, then exit 2.
        for problem in problems:
            print(f"ccs serve: {problem}", file=sys.stderr)
        print("ccs serve: not started; see docs/configuration.md", file=sys.stderr)
        return 2
    ensure_data_folder(config)
    if config.auto_migrate:
        upgrade(config.service_database_url())
    supervisor = None
    if args.no_worker:
        log.info("not consuming the queue (--no-worker): run `ccs worker` elsewhere")
    elif is_redis(config):
        log.info("Redis queue configured: run `ccs worker` processes to consume it")
    else:
        threads = max(1, getattr(args, "worker_threads", IN_PROCESS_WORKER_THREADS))
        supervisor = WorkerSupervisor(worker_command(threads)).start()
    try:
        WebApplication(web_options(config, args)).run()
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0


def web_options(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Return gunicorn's settings: threaded workers, so an event stream holds a thread (up
    to CCS_MAX_STREAMS per process), never a whole worker."""
    return {"bind": f"{args.host}:{args.port}", "workers": max(1, args.workers),
            "worker_class": f"{__name__}.StreamingWorker",
            "threads": config.max_streams + REQUEST_THREADS,
            "accesslog": "-", "graceful_timeout": WORKER_STOP_SECONDS,
            "logger_class": gunicorn_logger_class(config)}


class StreamingWorker(ThreadWorker):
    """gunicorn's gthread worker that ends its open event streams when told to stop."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: end the streams (watchers reconnect elsewhere), then stop gracefully."""
        from service.web.stream import close_all

        close_all()
        super().handle_exit(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGQUIT/SIGINT: end the streams, then stop at once."""
        from service.web.stream import close_all

        close_all()
        super().handle_quit(sig, frame)


def ensure_data_folder(config: Config) -> None:
    """Create the workspace (the default SQLite database and queue live there)."""
    config.workspace_dir.mkdir(parents=True, exist_ok=True)


def gunicorn_logger_class(config: Config) -> type[GunicornLogger]:
    """Return a gunicorn logger whose error and access lines look like ours (JSON or plain)."""
    chosen = choose_format(config.log_format, sys.stderr)

    class CcsGunicornLogger(GunicornLogger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for logger in (self.error_log, self.access_log):
                for handler in logger.handlers:
                    handler.setFormatter(make_formatter(chosen, config.redact))
                    handler.addFilter(ContextFilter())

    return CcsGunicornLogger


class WebApplication(BaseApplication):
    """Gunicorn run from Python: every web worker builds its own app (and engine)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options to gunicorn's settings."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """Return the WSGI app (called in each worker after fork)."""
        from service.web.app import create_app

        return create_app()
