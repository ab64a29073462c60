"""The callback baseline: a bare Flask route doing the callback's work, under gunicorn.

Per request: verify the GitHub Actions OIDC token with PyJWT (RS256, the same JWKS, issuer
and audience as ccs), then one transaction on the same database as ccs: insert the token
id into `bench_token_ids` (a replay fails the unique key → 409) and one UPDATE of the
child's row in `bench_children` whose WHERE is the binding and the compare-and-set
(same repository, same run, still running) → 202, else 409. One connection per gunicorn
worker (a sync worker serves one request at a time), opened after the fork.

    python bench/_bare_route.py --port P --issuer I --jwks URL --database URL --workers W
"""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS bench_token_ids (jti VARCHAR(128) PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS bench_children (id VARCHAR(32) PRIMARY KEY, "
    "repository VARCHAR(200) NOT NULL, run_id BIGINT NOT NULL, status VARCHAR(16) NOT NULL, "
    "commit_sha VARCHAR(64), attempts INTEGER, tests_passed INTEGER, tests_failed INTEGER)",
]
UPDATE = ("UPDATE bench_children SET status = {p}, commit_sha = {p}, attempts = {p}, "
          "tests_passed = {p}, tests_failed = {p} WHERE id = {p} AND repository = {p} "
          "AND run_id = {p} AND status IN ('dispatched', 'running')")


def connect(url: str) -> tuple[Any, str]:
    """Open a DB-API connection for a `sqlite:///path` or `postgresql+psycopg://` URL."""
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30,
                                     isolation_level=None)
        # The durability ccs itself runs SQLite with (WAL, synchronous=NORMAL).
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection, "?"
    if url.startswith("postgresql"):
        import psycopg

        return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)), "%s"
    raise SystemExit(f"unsupported database URL {url!r}: use sqlite:///PATH or "
                     "postgresql+psycopg://…")


def create_tables(url: str, children: list[tuple[str, str, int]]) -> None:
    """Create the baseline's tables and its children (id, repository, run id) as running."""
    connection, mark = connect(url)
    try:
        for statement in SCHEMA:
            connection.execute(statement)
        insert = ("INSERT INTO bench_children (id, repository, run_id, status) "  # noqa: S608
                  f"VALUES ({mark}, {mark}, {mark}, 'running')")  # placeholders, no values
        cursor = connection.cursor()
        if mark == "?":
            cursor.execute("BEGIN")
        cursor.executemany(insert, children)
        connection.commit() if mark == "%s" else cursor.execute("COMMIT")
    finally:
        connection.close()


def make_app(issuer: str, audience: str, jwks_url: str, database: str) -> Any:
    """Return the Flask app with the one result route and /healthz."""
    import jwt
    from flask import Flask, jsonify, request

    app = Flask("bare_route")
    keys = jwt.PyJWKClient(jwks_url, cache_keys=True)
    state: dict[str, Any] = {}

    def db() -> tuple[Any, str]:
        if "connection" not in state:
            state["connection"], state["mark"] = connect(database)
        return state["connection"], state["mark"]

    @app.post("/api/v1/children/<child_id>/result")
    def result(child_id: str) -> Any:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        try:
            key = keys.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience,
                                issuer=issuer, options={"require": ["exp", "iat", "jti"]})
        except jwt.PyJWTError:
            return jsonify({"error": "unauthorized"}), 401
        body = request.get_json(silent=True) or {}
        tests = body.get("tests") or {}
        if body.get("status") not in ("succeeded", "failed"):
            return jsonify({"error": "bad status"}), 400
        return transact(child_id, claims, body, tests)

    def transact(child_id: str, claims: dict, body: dict, tests: dict) -> Any:
        connection, mark = db()
        sqlite = mark == "?"
        try:
            if sqlite:
                connection.execute("BEGIN IMMEDIATE")  # take the write lock up front
            connection.execute(f"INSERT INTO bench_token_ids (jti) VALUES ({mark})",  # noqa: S608
                               (claims["jti"],))
            updated = connection.execute(UPDATE.format(p=mark), (
                body["status"], body.get("commit"), body.get("attempts", 1),
                tests.get("passed", 0), tests.get("failed", 0), child_id,
                claims.get("repository"), int(claims.get("run_id", 0)))).rowcount
            connection.execute("COMMIT") if sqlite else connection.commit()
        except Exception:  # noqa: BLE001 - a replayed token id (unique key) or a lost race
            connection.execute("ROLLBACK") if sqlite else connection.rollback()
            return jsonify({"error": "duplicate"}), 409
        if updated != 1:
            return jsonify({"error": "not running"}), 409
        return jsonify({"status": "accepted"}), 202

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})
    return app


def serve(args: argparse.Namespace) -> None:
    """Run the app under gunicorn with the options `ccs serve` passes it."""
    from gunicorn.app.base import BaseApplication

    audience = f"http://127.0.0.1:{args.port}"

    class Application(BaseApplication):
        def load_config(self) -> None:
            # The same settings as `ccs serve` (service/cli/serve.py: serve).
            for key, value in {"bind": f"127.0.0.1:{args.port}", "workers": args.workers,
                               "accesslog": "-", "graceful_timeout": 30}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return make_app(args.issuer, audience, args.jwks, args.database)

    Application().run()


def main() -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description="the bare callback route")
    for option in ("--issuer", "--jwks", "--database"):
        parser.add_argument(option, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
