"""Browser tests: the system Chromium driven by Playwright against a real server.

The server runs in a thread on a free port with its own temporary SQLite database (the
browser tests are about the phone, not the database; the rest of the suite covers both
databases). A missing browser is a failure, never a skip: CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
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
PASSWORD = "correct horse battery"
WORKER = "terrain@e2e.test"


class LiveServer:
    def __init__(self, app, url):
        self.app, self.url = app, url

    def contact_count(self) -> int:
        from sqlalchemy import func, select

        from app.models import Contact

        with self.app.app_context():
            return db.session.scalar(select(func.count()).select_from(Contact))


@pytest.fixture(scope="session")
def live_server():
    folder = Path(tempfile.mkdtemp(prefix="relais-e2e-"))
    keys = folder / "keys.json"
    crypto.write_key_file(keys, crypto.new_key_ring())
    app = create_app({
        "SECRET_KEY": "e2e-secret", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'e2e.db'}",
        "DATA_KEYS_FILE": str(keys), "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024,
        "ARGON2_PARALLELISM": 1, "LOGIN_RATE_LIMIT": "100000 per minute",
    })
    with app.app_context():
        upgrade()
        load_vocabularies()
        db.session.add(Neighbourhood(code="colignon", name="Colignon", commune="Schaerbeek"))
        db.session.commit()
        create_user(WORKER, Role.FIELD_WORKER, PASSWORD, neighbourhoods=["colignon"],
                    display_name="Amina")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


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
def phone(chromium, live_server):
    """A fresh 360×740 phone: its own cookies, caches, IndexedDB and service worker."""
    context = chromium.new_context(viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, is_mobile=True, has_touch=True,
                                   locale="fr-BE", timezone_id="Europe/Brussels",
                                   service_workers="allow")
    context.set_default_timeout(30000)
    page = context.new_page()
    page.base = live_server.url
    yield page
    context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
