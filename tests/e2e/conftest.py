"""Browser tests: the system Chromium driven by Playwright against a real server.

The server runs in a thread on a free port with its own temporary SQLite database (the
browser tests are about the phone, not the database; the rest of the suite covers both
databases). A missing browser is a failure, never a skip: CI installs it (.ci/run).

"Sent exactly once" cannot be judged by rows (a PUT sent twice stores one row): the server
counts the PUTs that reach it, per record id, and a test can hold them at the door.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from app import create_app, crypto
from app.cli import create_user
from app.extensions import db
from app.loaders import load_vocabularies
from app.models import Neighbourhood, Role

CHROMIUM = os.environ.get("RELAIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# axe-core from the npm registry, pinned by tests/e2e/package-lock.json (`make e2e-tools`).
AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
PASSWORD = "correct horse battery"
WORKER = "terrain@e2e.test"        # Amina
COLLEAGUE = "collegue@e2e.test"    # Yannick, in the same team (Colignon)


class PutCounter:
    """WSGI middleware: counts the PUTs that reach the server per record id (the last part
    of the path), and holds them at the door while a test keeps the gate closed."""

    def __init__(self, app):
        self.app = app
        self.changed = threading.Condition()
        self.counts: Counter = Counter()
        self.gate: threading.Event | None = None

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "PUT":
            record_id = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
            with self.changed:
                self.counts[record_id] += 1
                gate = self.gate
                self.changed.notify_all()
            if gate is not None:
                gate.wait(timeout=60)
        return self.app(environ, start_response)


class LiveServer:
    def __init__(self, app, url, counter: PutCounter):
        self.app, self.url, self.counter = app, url, counter

    def puts(self, record_id) -> int:
        """How many PUTs of this record reached the server."""
        with self.counter.changed:
            return self.counter.counts[str(record_id)]

    def wait_for_puts(self, record_id, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.counter.changed:
            while self.counter.counts[str(record_id)] < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{count} PUTs of {record_id} never reached the server"
                self.counter.changed.wait(left)

    @contextmanager
    def holding_puts(self):
        """PUTs that arrive wait at the door until the block ends (or `release()`)."""
        gate = threading.Event()
        with self.counter.changed:
            self.counter.gate = gate
        try:
            yield gate
        finally:
            with self.counter.changed:
                self.counter.gate = None
            gate.set()

    def _stored(self, model, record_id) -> dict:
        from app import versions

        with self.app.app_context():
            record = db.session.get(model, uuid.UUID(str(record_id)))
            snapshot = dict(versions.snapshot(record))
            snapshot["version"] = record.version
            db.session.remove()
            return snapshot

    def contact(self, contact_id) -> dict:
        """What the server has stored for a contact (its version, its fields)."""
        from app.models import Contact

        return self._stored(Contact, contact_id)

    def collective_action(self, action_id) -> dict:
        from app.models import CollectiveAction

        return self._stored(CollectiveAction, action_id)

    def expire_sessions(self, email: str) -> None:
        """The person's sessions pass their idle time on the server; the browser keeps its
        cookie, which now opens nothing (app/auth/sessions.py)."""
        from datetime import UTC, datetime, timedelta

        from sqlalchemy import func, select, update

        from app.auth import sessions
        from app.models import User, UserSession

        with self.app.app_context():
            user_id = db.session.scalar(select(User.id).where(func.lower(User.email) == email))
            idle = sessions.idle_timeout() + timedelta(minutes=1)
            done = db.session.execute(update(UserSession).where(UserSession.user_id == user_id)
                                      .values(last_seen_at=datetime.now(UTC) - idle))
            assert done.rowcount, f"no session row for {email}"
            db.session.commit()
            db.session.remove()

    def contact_count(self) -> int:
        from sqlalchemy import func, select

        from app.models import Contact

        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(Contact))


def serve_axe(app) -> None:
    """The test server, and only it, serves axe-core from 'self' (the app's CSP allows no
    other script). Registered before the first request, as Flask requires."""
    from flask import send_file

    def axe_js():
        if not AXE_JS.exists():
            pytest.fail(f"axe-core is missing at {AXE_JS}: run `make e2e-tools` "
                        "(npm ci --prefix tests/e2e)")
        return send_file(AXE_JS, mimetype="text/javascript")

    app.add_url_rule(AXE_URL, "e2e_axe", axe_js)


def axe_violations(page, impacts=("serious", "critical"), rules=None) -> list[dict]:
    """axe-core's WCAG 2.0/2.1/2.2 A and AA rules (or only `rules`, e.g. ["color-contrast"])
    on the page as it stands: the violations of these impacts, each with its rule id, help
    text, page and targets."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": AXE_TAGS}
    result = page.evaluate("""only => axe.run(document, {
        runOnly: only, resultTypes: ["violations"]})""", only)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"], "page": page.url,
             "targets": [node["target"] for node in v["nodes"]][:6]}
            for v in result["violations"] if v["impact"] in impacts]


def make_app(name: str):
    """A fresh app for a browser test server, with its own SQLite database and key ring in
    a temporary folder (returned too, to be removed), cheap hashes and no second factor
    required (as in the demo). Its database is migrated."""
    folder = Path(tempfile.mkdtemp(prefix=f"relais-{name}-"))
    keys = folder / "keys.json"
    crypto.write_key_file(keys, crypto.new_key_ring())
    app = create_app({
        "SECRET_KEY": f"{name}-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'e2e.db'}",
        "DATA_KEYS_FILE": str(keys), "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024,
        "ARGON2_PARALLELISM": 1, "LOGIN_RATE_LIMIT": "100000 per minute",
        # As in the demo: two-factor optional, so that an admin can be tried at once
        # (tests/e2e/test_accounts.py turns it on for a coordinator in the browser).
        "TWO_FACTOR_REQUIRED_ROLES": (),
    })
    with app.app_context():
        upgrade()
    return app, folder


@contextmanager
def serving(app, folder):
    """Serve `app` on a free port in a thread; yields its base URL, then stops the server
    and removes the app's folder."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server():
    app, folder = make_app("e2e")
    with app.app_context():
        load_vocabularies()
        db.session.add(Neighbourhood(code="colignon", name="Colignon", commune="Schaerbeek"))
        db.session.commit()
        create_user(WORKER, Role.FIELD_WORKER, PASSWORD, neighbourhoods=["colignon"],
                    display_name="Amina")
        create_user(COLLEAGUE, Role.FIELD_WORKER, PASSWORD, neighbourhoods=["colignon"],
                    display_name="Yannick")
    serve_axe(app)
    counter = PutCounter(app.wsgi_app)
    app.wsgi_app = counter
    with serving(app, folder) as url:
        yield LiveServer(app, url, counter)


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install it with "
                    "`apt-get install chromium` (make test and .ci/run need it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phones(chromium, live_server):
    """Makes fresh 360×740 phones: each its own cookies, caches, IndexedDB and service
    worker (two phones are two workers of one team)."""
    contexts = []

    def new_phone():
        context = chromium.new_context(viewport={"width": 360, "height": 740},
                                       device_scale_factor=2, is_mobile=True, has_touch=True,
                                       locale="fr-BE", timezone_id="Europe/Brussels",
                                       service_workers="allow")
        context.set_default_timeout(30000)
        contexts.append(context)
        page = context.new_page()
        page.base = live_server.url
        return page

    yield new_phone
    for context in contexts:
        context.close()


@pytest.fixture
def phone(phones):
    """A fresh 360×740 phone."""
    return phones()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
