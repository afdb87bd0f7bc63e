"""Fixtures: one app per test session on SQLite (default) or PostgreSQL.

Set RELAIS_TEST_DATABASE_URL to run the whole suite on another database, e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test (.ci/run does). The schema is built by the
Alembic migrations, as in production; every test starts from the same small world.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app, crypto
from app.cli import create_user
from app.extensions import db
from app.loaders import load_vocabularies
from app.models import Neighbourhood, Organisation, Role

from .evaluation_data import data  # noqa: F401  (a fixture for every test module)

PASSWORD = "correct horse battery"
DATABASE_URL = os.environ.get("RELAIS_TEST_DATABASE_URL")
# Set (by .ci/run) to keep the rate-limit counters in Redis, as production with several
# workers does; unset, they live in memory.
REDIS_URL = os.environ.get("RELAIS_TEST_REDIS_URL")


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="relais-test-") as path:
        yield Path(path)


@pytest.fixture(scope="session")
def app(workdir):
    url = DATABASE_URL or f"sqlite:///{workdir / 'test.db'}"
    if url.startswith("postgresql"):
        _reset_postgres(url)
    if REDIS_URL:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()  # unreachable Redis fails the run, never skips
    ring = crypto.new_key_ring()
    keys_file = workdir / "keys.json"
    crypto.write_key_file(keys_file, ring)
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "DATA_KEYS_FILE": str(keys_file),
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        # Cheap hashes keep the suite fast; production uses argon2-cffi's defaults.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_PARALLELISM": 1,
        # The suite signs in hundreds of times from one address; one test lowers it again.
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "RATELIMIT_STORAGE_URI": REDIS_URL or "memory://",
        "RATELIMIT_SWALLOW_ERRORS": False,
        # Tests of the second factor turn it on for themselves (tests/test_two_factor.py).
        "TWO_FACTOR_REQUIRED_ROLES": (),
    })
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def _empty_database() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@dataclass(frozen=True)
class Ref:
    """A plain handle on a row (no ORM object outlives the app context that loaded it)."""

    id: int
    key: str  # email of a user, code of a neighbourhood, name of an organisation


class World:
    """The small fixed world every test starts from.

    Colignon and Brabant belong to the worker (Brabant only to them), Marolles to an outsider;
    the coordinator coordinates Colignon and Brabant; the partner belongs to the CPAS.
    """

    def __init__(self):
        load_vocabularies()
        places = [Neighbourhood(code="colignon", name="Colignon", commune="Schaerbeek"),
                  Neighbourhood(code="brabant", name="Brabant", commune="Schaerbeek"),
                  Neighbourhood(code="marolles", name="Marolles", commune="Bruxelles")]
        orgs = [Organisation(name="CPAS de Schaerbeek", category="aide_sociale",
                             commune="Schaerbeek"),
                Organisation(name="Free Clinic", category="sante", commune="Ixelles")]
        db.session.add_all(places + orgs)
        db.session.commit()
        self.colignon, self.brabant, self.marolles = (Ref(n.id, n.code) for n in places)
        self.cpas, self.other_org = (Ref(o.id, o.name) for o in orgs)

        def user(email, role, neighbourhoods=(), **kwargs):
            made = create_user(email, role, PASSWORD, neighbourhoods=neighbourhoods, **kwargs)
            return Ref(made.id, made.email)

        self.worker = user("worker@test.be", Role.FIELD_WORKER, ["colignon", "brabant"],
                           display_name="Amina")
        self.colleague = user("colleague@test.be", Role.FIELD_WORKER, ["colignon"],
                              display_name="Yannick")
        self.outsider = user("outsider@test.be", Role.FIELD_WORKER, ["marolles"],
                             display_name="Sofia")
        self.coordinator = user("coordinator@test.be", Role.COORDINATOR,
                                ["colignon", "brabant"])
        self.partner = user("partner@test.be", Role.PARTNER, organisation="CPAS de Schaerbeek")
        self.admin = user("admin@test.be", Role.ADMIN)

    def user(self, role: str) -> Ref:
        return {"field_worker": self.worker, "coordinator": self.coordinator,
                "partner": self.partner, "admin": self.admin}[role]


@pytest.fixture
def world(app):
    from app.extensions import limiter

    # Sign-in counters live in the limiter's store (memory or Redis), which outlives a test:
    # a failed sign-in in one test must not slow down the next one's.
    limiter.reset()
    with app.app_context():
        _empty_database()
        built = World()
        db.session.remove()
    return built


@pytest.fixture
def client(app, world):
    return app.test_client()


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF_META.search(html) or CSRF_INPUT.search(html)
    assert found, "no CSRF token in page"
    return found.group(1)


def login(client, email: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_from(page.text)})


class Api:
    """A signed-in API client that sends the CSRF header like the offline queue does."""

    def __init__(self, client, email: str):
        response = login(client, email)
        assert response.status_code == 302, response.text
        self.email = email
        self.client = client
        self.token = client.get("/api/v1/me").get_json()["csrf_token"]

    def put(self, path: str, payload=None, **kwargs):
        headers = {"X-CSRFToken": self.token, **kwargs.pop("headers", {})}
        if "data" in kwargs:
            return self.client.put(f"/api/v1{path}", headers=headers, **kwargs)
        return self.client.put(f"/api/v1{path}", json=payload, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.client.get(f"/api/v1{path}", **kwargs)

    def edit(self, path: str, payload: dict, **kwargs):
        """Change a record as a client that has just read it: If-Match its current version."""
        seen = self.get(path)
        assert seen.status_code == 200, seen.get_json()
        return self.put(path, payload, headers={"If-Match": seen.headers["ETag"]}, **kwargs)


@pytest.fixture
def api_as(client):
    return lambda email: Api(client, email)


@pytest.fixture
def worker_api(api_as, world):
    return api_as(world.worker.key)
