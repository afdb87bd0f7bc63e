"""Relais: an anonymised outreach case log for neighbourhood field work."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from flask import Flask, session
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import crypto
from .config import Defaults
from .extensions import babel, csrf, db, limiter, login_manager, migrate

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a SQLite writer waits for another one


def create_app(test_config: dict | None = None, *, require_keys: bool = False) -> Flask:
    """Build the app.

    ``require_keys`` makes a missing key ring fatal at start-up (the WSGI entry point sets
    it). Without it the command line can still run ``keys init`` and ``db upgrade``; every
    web request then answers 503 with the reason, never a plaintext fallback.
    """
    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"),
                instance_relative_config=True)
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    _resolve_instance_paths(app)
    _postgres_options(app)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError(
            "SECRET_KEY is not set: run `make run` once (it writes instance/config.py) "
            "or set FLASK_SECRET_KEY"
        )

    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    _load_key_ring(app, require_keys)
    _init_extensions(app)
    _register_blueprints(app)

    from . import cli, web

    web.init_app(app)
    cli.init_app(app)
    return app


def _resolve_instance_paths(app: Flask) -> None:
    os.makedirs(app.instance_path, exist_ok=True)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        app.config["SQLALCHEMY_DATABASE_URI"] = prefix + os.path.join(
            app.instance_path, uri[len(prefix):]
        )
    keys_file = app.config["DATA_KEYS_FILE"]
    if not os.path.isabs(keys_file):
        app.config["DATA_KEYS_FILE"] = os.path.join(app.instance_path, keys_file)


def _postgres_options(app: Flask) -> None:
    """No server-side prepared statements: after five runs psycopg prepares a query, and
    PostgreSQL may then plan it once for any neighbourhoods and dates; the evaluation's
    queries, whose best plan depends on those values, became four times slower that way."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})  # never the default's
        options["connect_args"] = {"prepare_threshold": None, **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _load_key_ring(app: Flask, require_keys: bool) -> None:
    inline = app.config.get("DATA_KEYS")  # e.g. FLASK_DATA_KEYS='{"data_keys": …}'
    try:
        if inline:
            data = inline if isinstance(inline, dict) else json.loads(inline)
            ring = crypto.KeyRing.from_dict(data)
        else:
            ring = crypto.KeyRing.load(app.config["DATA_KEYS_FILE"])
    except crypto.KeyRingError as exc:
        if require_keys or Path(app.config["DATA_KEYS_FILE"]).exists() or inline:
            # A key ring that exists but does not load is always fatal.
            raise
        app.extensions["relais_keyring_error"] = str(exc)
        log.warning("Relais started without a key ring: %s", exc)
        return
    app.extensions["relais_keyring"] = ring


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL for concurrent readers, enforced foreign keys, and patience with a busy writer."""
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _select_locale() -> str:
    from flask import current_app, has_request_context

    if not has_request_context():  # command line, benchmarks: the default language
        return "fr"
    chosen = session.get("lang")
    return chosen if chosen in current_app.config["LANGUAGES"] else "fr"


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(PROJECT_ROOT / "app" / "translations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    # "basic", not "strong": a phone changes address between wifi and 4G mid-maraude.
    login_manager.session_protection = "basic"

    from . import (
        models,  # noqa: F401  (register every model on the metadata)
        versions,
    )
    from .evaluation import blocks

    blocks.install()  # writes keep the monthly blocks of the evaluation figures exact
    versions.install()  # no change of a versioned record slips past its history


def _register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .bridges import bp as bridges_bp
    from .evaluation import bp as evaluation_bp
    from .outreach import bp as outreach_bp
    from .partners import bp as partners_bp
    from .referrals import bp as referrals_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(outreach_bp)
    app.register_blueprint(referrals_bp)
    app.register_blueprint(bridges_bp)
    app.register_blueprint(evaluation_bp)
    app.register_blueprint(partners_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")

    from .pwa import bp as pwa_bp

    app.register_blueprint(pwa_bp)
