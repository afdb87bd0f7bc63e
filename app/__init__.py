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
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)  # private when created here
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and ":memory:" not in uri:
        app.config["SQLALCHEMY_DATABASE_URI"] = prefix + os.path.join(
            app.instance_path, uri[len(prefix):]
        )
    _create_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    keys_file = app.config["DATA_KEYS_FILE"]
    if not os.path.isabs(keys_file):
        app.config["DATA_KEYS_FILE"] = os.path.join(app.instance_path, keys_file)


def _create_sqlite_file(uri: str) -> None:
    """Create a new SQLite database file 0600 before SQLAlchemy opens it (SQLite itself
    would create it 0644 under the usual umask). SQLite gives its -wal, -shm and -journal
    files the mode of the database file, so they are private too. An existing file is left
    as it is, with a warning when group or others may read it."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
    except Exception:  # not a URL SQLAlchemy knows: it will say so itself
        return
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" \
            or path.startswith("file:") or url.query.get("mode") == "memory":
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = os.stat(path).st_mode
        if os.name == "posix" and mode & 0o077:
            log.warning("database file %s is open to group or others (mode %04o): "
                        "`chmod 600 %s` makes it private", path, mode & 0o777, path)
        return
    except OSError:  # e.g. a missing folder: SQLAlchemy reports it when it connects
        return
    try:
        os.fchmod(fd, 0o600)
    except (AttributeError, OSError):
        pass
    finally:
        os.close(fd)


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
    from flask_login import current_user

    if not has_request_context():  # command line, benchmarks: the default language
        return "fr"
    # The person's own choice follows them from phone to laptop; before sign-in, the
    # choice made on this device (kept in its session).
    chosen = getattr(current_user, "language", None) or session.get("lang")
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
    from .auth import sessions

    sessions.init_app(app)  # sessions kept on the server: the cookie holds only a token

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
    from .help import bp as help_bp
    from .outreach import bp as outreach_bp
    from .partners import bp as partners_bp
    from .people import bp as people_bp
    from .referrals import bp as referrals_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(outreach_bp)
    app.register_blueprint(referrals_bp)
    app.register_blueprint(bridges_bp)
    app.register_blueprint(evaluation_bp)
    app.register_blueprint(partners_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(help_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")

    from .pwa import bp as pwa_bp

    app.register_blueprint(pwa_bp)
