"""Flask extensions, created unbound and initialised in create_app()."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Per client address; the storage is memory:// on one process, Redis when several serve.
limiter = Limiter(get_remote_address)


def _flag(value) -> bool:
    if isinstance(value, str):  # a FLASK_* variable that is not JSON, e.g. "yes"
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def check_limit_storage(config) -> None:
    """Refuse an in-memory limit store unless one process serves (called by wsgi.py).

    Each process keeps its own memory:// counters: with three gunicorn workers the sign-in
    limits and the throttling would allow three times what they say, and a restart would
    forget them. Production keeps them in Redis; a single process says so explicitly."""
    uri = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if uri.startswith("memory:") and not _flag(config.get("RATELIMIT_SINGLE_PROCESS")):
        raise RuntimeError(
            "The sign-in limits are kept in memory (RATELIMIT_STORAGE_URI=memory://), which "
            "is right for one process only: each worker would count on its own. Set "
            "FLASK_RATELIMIT_STORAGE_URI=redis://host:6379/0 (see docs/deployment.md), or "
            "FLASK_RATELIMIT_SINGLE_PROCESS=true if exactly one process serves."
        )
