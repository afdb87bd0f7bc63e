from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.auth import throttle
from app.extensions import db, limiter
from app.models import AuditEvent, User

from .conftest import PASSWORD, csrf_from, login
from .helpers import contact_payload, new_id

GENERIC = "Adresse e-mail ou mot de passe incorrect"


def _actions(app) -> list[str]:
    """Audit actions since the world was built (account creation left out)."""
    with app.app_context():
        return db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action != "user_saved").order_by(AuditEvent.id)).all()


def test_sign_in_and_out(client, world, app):
    response = login(client, world.worker.key)
    assert response.status_code == 302
    assert client.get("/today").status_code == 200
    logout_page = client.get("/logout")
    assert logout_page.status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_from(logout_page.text)})
    assert response.status_code == 302
    assert client.get("/today").status_code == 302  # back to the sign-in page
    assert _actions(app)[-2:] == ["login", "logout"]


def test_email_is_case_insensitive(client, world):
    assert login(client, "WORKER@Test.be").status_code == 302


def test_unknown_email_and_wrong_password_look_the_same(client, world, app):
    unknown = login(client, "nobody@test.be", "whatever-password")
    wrong = login(client, world.worker.key, "wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert GENERIC in unknown.text and GENERIC in wrong.text
    strip = lambda html: html.replace(csrf_from(html), "")  # noqa: E731
    assert strip(unknown.text).replace("nobody@test.be", "") == \
        strip(wrong.text).replace(world.worker.key, "")
    assert _actions(app) == ["login_failed", "login_failed"]


# -- throttling instead of a lock (app/auth/throttle.py) ---------------------------------------
OUTSIDER_ADDRESS = "203.0.113.9"
OWNER_ADDRESS = "198.51.100.7"
TRY_LATER = "Attendez quelques minutes"


@pytest.fixture(autouse=True)
def fresh_throttle():
    """Every test starts and ends with empty sign-in counters (they live in the limiter's
    store, memory or Redis, which outlives a test)."""
    from app.extensions import limiter

    limiter.reset()
    yield
    limiter.reset()


def _from(app, address: str, **environ):
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, **environ)
    return client


def _page(response) -> str:
    """A page without its CSRF token (each session has its own)."""
    return response.text.replace(csrf_from(response.text), "")


def _attempt(app, email: str, address: str):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return throttle.Attempt.of(email)


def _let_the_wait_pass(app, email: str, address: str) -> None:
    """What the clock would do: the pair's and the address's waits are over (the failures
    stay counted)."""
    attempt = _attempt(app, email, address)
    with app.app_context():
        for counter in (attempt._pair, attempt._address):
            limiter.storage.clear(attempt._wait(counter))


def _wait_of(app, email: str, address: str) -> int:
    attempt = _attempt(app, email, address)
    with app.app_context():
        return attempt.wait_seconds()


def test_a_pair_is_slowed_down_progressively(app, world):
    client = _from(app, OUTSIDER_ADDRESS)
    statuses = [login(client, world.worker.key, "wrong-password").status_code
                for _ in range(6)]
    assert statuses == [401] * 5 + [429]  # five free failures, then "try later"
    assert 25 <= _wait_of(app, world.worker.key, OUTSIDER_ADDRESS) <= 30
    # While the pair waits, even the right password from there is not checked.
    refused = login(client, world.worker.key)
    assert refused.status_code == 429 and TRY_LATER in refused.text
    waits = []
    for _ in range(3):
        _let_the_wait_pass(app, world.worker.key, OUTSIDER_ADDRESS)
        assert login(client, world.worker.key, "wrong-password").status_code == 401
        assert login(client, world.worker.key, "wrong-password").status_code == 429
        waits.append(_wait_of(app, world.worker.key, OUTSIDER_ADDRESS))
    assert [round(w, -1) for w in waits] == [60, 120, 240]  # twice as long each time
    with app.app_context():
        assert [throttle.delay_after(n, 5) for n in (4, 5, 6, 9, 10, 50)] == \
            [0, 30, 60, 480, 900, 900]  # never more than 15 minutes
        assert db.session.get(User, world.worker.id).locked_until is None
    # The refused attempts were recorded, without checking any password.
    assert _actions(app).count("login_failed") == 5 + 1 + 1 + 3 * 2
    assert "account_locked" not in _actions(app)


def test_an_outsider_cannot_keep_the_owner_out(app, world):
    outsider = _from(app, OUTSIDER_ADDRESS)
    for _ in range(40):
        login(outsider, world.worker.key, "wrong-password")
    assert login(outsider, world.worker.key).status_code == 429  # the outsider waits
    owner = _from(app, OWNER_ADDRESS)
    assert login(owner, world.worker.key).status_code == 302  # the owner does not
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        assert user.locked_until is None and user.failed_logins == 0


def test_an_address_trying_many_accounts_is_slowed_down(app, world):
    client = _from(app, OUTSIDER_ADDRESS)
    statuses = [login(client, f"someone{n}@test.be", "password-one").status_code
                for n in range(21)]
    assert statuses == [401] * 20 + [429]  # twenty free failures for the address
    blocked = login(client, world.colleague.key)  # any account, even the right password
    assert blocked.status_code == 429
    assert login(_from(app, OWNER_ADDRESS), world.colleague.key).status_code == 302


def test_addresses_are_those_seen_through_the_proxy(app, world):
    from werkzeug.middleware.proxy_fix import ProxyFix

    original = app.wsgi_app
    app.wsgi_app = ProxyFix(original, x_for=1)  # what create_app does for PROXY_HOPS=1
    try:
        proxy = "10.0.0.1"
        outsider = _from(app, proxy, HTTP_X_FORWARDED_FOR=OUTSIDER_ADDRESS)
        owner = _from(app, proxy, HTTP_X_FORWARDED_FOR=OWNER_ADDRESS)
        for _ in range(6):
            login(outsider, world.worker.key, "wrong-password")
        assert login(outsider, world.worker.key).status_code == 429
        assert login(owner, world.worker.key).status_code == 302
    finally:
        app.wsgi_app = original
    with app.app_context():
        addresses = db.session.scalars(select(AuditEvent.source_address).where(
            AuditEvent.action == "login_failed")).all()
    assert set(addresses) == {OUTSIDER_ADDRESS}


def test_an_ipv6_subscriber_counts_as_one_address(app, world):
    assert throttle.address_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.address_of("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.address_of("192.0.2.1") == "192.0.2.1"
    for n in range(5):
        login(_from(app, f"2001:db8:1:2::{n + 1}"), world.worker.key, "wrong-password")
    assert login(_from(app, "2001:db8:1:2::99"), world.worker.key).status_code == 429
    assert login(_from(app, "2001:db8:1:3::1"), world.worker.key).status_code == 302


def test_unknown_and_known_accounts_get_the_same_answers(app, world):
    def answers(email, address):
        client = _from(app, address)
        responses = [login(client, email, "wrong-password") for _ in range(6)]
        return [(r.status_code, _page(r).replace(email, "")) for r in responses]

    known = answers(world.worker.key, "192.0.2.10")
    unknown = answers("nobody@test.be", "192.0.2.11")
    assert [status for status, _ in known] == [401] * 5 + [429]
    assert known == unknown


def test_the_owner_s_success_starts_the_pair_afresh(app, world):
    client = _from(app, OWNER_ADDRESS)
    for _ in range(4):
        assert login(client, world.worker.key, "wrong-password").status_code == 401
    assert login(client, world.worker.key).status_code == 302
    with app.app_context():
        assert db.session.get(User, world.worker.id).failed_logins == 0
    client = _from(app, OWNER_ADDRESS)
    statuses = [login(client, world.worker.key, "wrong-password").status_code
                for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def _fail_from_many_addresses(app, email: str, failures: int) -> None:
    """`failures` wrong passwords for one account, four per address: no address and no pair
    is ever slowed down, as in an attack spread over many machines."""
    for n in range(failures):
        client = _from(app, f"192.0.2.{100 + n // 4}")
        assert login(client, email, "wrong-password").status_code == 401


def test_many_failures_from_many_addresses_lock_the_account(app, world):
    _fail_from_many_addresses(app, world.worker.key, 99)
    with app.app_context():
        assert db.session.get(User, world.worker.id).locked_until is None
    _fail_from_many_addresses(app, world.worker.key, 1)  # the hundredth within the hour
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        assert user.locked_until is not None
        remaining = user.locked_until - datetime.now(UTC)
        assert timedelta(minutes=59) < remaining <= timedelta(minutes=60)
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "account_locked")).one()
        assert event.user_id == world.worker.id and event.object_id == str(world.worker.id)

    # Locked for everyone, even the owner from an address that never failed.
    refused = login(_from(app, OWNER_ADDRESS), world.worker.key)
    assert refused.status_code == 429 and TRY_LATER in refused.text
    # An unknown e-mail tried as often answers the same: nobody learns which accounts exist.
    _fail_from_many_addresses(app, "nobody@test.be", 100)
    unknown = login(_from(app, OWNER_ADDRESS), "nobody@test.be")
    assert unknown.status_code == 429 and _page(unknown) == _page(refused)

    # The admin home lists the locked account; unlocking lets the owner in.
    admin = _from(app, "192.0.2.250")
    assert login(admin, world.admin.key).status_code == 302
    home = admin.get("/admin")
    assert 'id="locked-accounts"' in home.text
    locked_section = home.text.split('id="locked-accounts"')[1].split("</section>")[0]
    assert world.worker.key in locked_section and world.colleague.key not in locked_section
    action = f"/admin/users/{world.worker.id}/unlock"
    assert action in locked_section
    assert admin.post(action, data={"csrf_token": csrf_from(home.text)}).status_code == 302
    assert 'id="locked-accounts"' not in admin.get("/admin").text
    assert "user_unlocked" in _actions(app)
    assert login(_from(app, OWNER_ADDRESS), world.worker.key).status_code == 302


def test_throttle_counters_live_in_the_limiter_store(app, world):
    login(_from(app, OUTSIDER_ADDRESS), world.worker.key, "wrong-password")
    attempt = _attempt(app, world.worker.key, OUTSIDER_ADDRESS)
    with app.app_context():
        assert limiter.storage.get(attempt._pair) == 1
        assert limiter.storage.get(attempt._address) == 1
        strategy, item = throttle._account_window()
        stats = strategy.get_window_stats(item, throttle.NAMESPACE, "account", attempt.account)
        assert item.amount - stats.remaining == 1
    # The store never holds an e-mail address.
    assert world.worker.key not in attempt._pair


def test_without_the_store_sign_in_goes_on_and_hundred_failures_still_wait(app, world,
                                                                         monkeypatch):
    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("store down")
            return fail

    monkeypatch.setattr(throttle, "_storage", lambda: Down())
    monkeypatch.setitem(app.config, "RATELIMIT_SWALLOW_ERRORS", True)
    client = _from(app, OUTSIDER_ADDRESS)
    assert login(client, world.worker.key, "wrong-password").status_code == 401
    assert login(client, world.worker.key).status_code == 302
    with app.app_context():
        db.session.get(User, world.worker.id).failed_logins = 100
        db.session.commit()
    assert login(_from(app, OWNER_ADDRESS), world.worker.key).status_code == 429
    monkeypatch.setitem(app.config, "RATELIMIT_SWALLOW_ERRORS", False)
    with pytest.raises(ConnectionError):
        with app.test_request_context():
            throttle.refusal(throttle.Attempt.of(world.colleague.key))


def test_success_resets_the_failure_count(client, world, app):
    for _ in range(3):
        login(client, world.worker.key, "wrong-password")
    with app.app_context():
        assert db.session.get(User, world.worker.id).failed_logins == 3
    assert login(client, world.worker.key).status_code == 302
    with app.app_context():
        assert db.session.get(User, world.worker.id).failed_logins == 0


# -- serving refuses counters that each worker would keep on its own --------------------------
def test_check_limit_storage():
    from app.extensions import check_limit_storage

    for config in ({"RATELIMIT_STORAGE_URI": "memory://"}, {"RATELIMIT_STORAGE_URI": None},
                   {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": False},
                   {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": "no"}):
        with pytest.raises(RuntimeError) as refused:
            check_limit_storage(config)
        assert "FLASK_RATELIMIT_SINGLE_PROCESS=true" in str(refused.value)
        assert "FLASK_RATELIMIT_STORAGE_URI=redis://" in str(refused.value)
    for config in ({"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": True},
                   {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": "yes"},
                   {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"}):
        check_limit_storage(config)  # no error


def test_wsgi_checks_the_limit_storage(monkeypatch):
    import runpy
    from pathlib import Path

    import app as package

    class Served:
        def __init__(self, config):
            self.config = config

    wsgi = str(Path(package.__file__).resolve().parent.parent / "wsgi.py")
    made = []

    def fake_create_app(**kwargs):
        made.append(kwargs)
        return Served(config)

    monkeypatch.setattr(package, "create_app", fake_create_app)
    config = {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": False}
    with pytest.raises(RuntimeError, match="FLASK_RATELIMIT_SINGLE_PROCESS"):
        runpy.run_path(wsgi)
    assert made == [{"require_keys": True}]
    config = {"RATELIMIT_STORAGE_URI": "memory://", "RATELIMIT_SINGLE_PROCESS": True}
    assert runpy.run_path(wsgi)["app"].config is config


def test_login_form_without_csrf_is_refused(client, world):
    response = client.post("/login", data={"email": world.worker.key, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/today").status_code == 302


def test_page_form_without_csrf_is_refused(client, world):
    login(client, world.worker.key)
    response = client.post("/contacts/new", data={"neighbourhood": "colignon",
                                                   "occurred_at": "2026-01-01T10:00"})
    assert response.status_code == 400


def test_api_write_without_or_with_wrong_csrf_is_refused(client, world, app):
    login(client, world.worker.key)
    path = f"/api/v1/contacts/{new_id()}"
    assert client.put(path, json=contact_payload()).status_code == 400
    assert client.put(path, json=contact_payload(),
                      headers={"X-CSRFToken": "forged"}).status_code == 400
    with app.app_context():
        from app.models import Contact
        assert db.session.scalar(select(Contact.id)) is None


def test_api_without_session_is_401_json(client, world):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.is_json


def test_no_open_redirect_after_login(client, world):
    page = client.get("/login?next=https://evil.example/")
    response = client.post("/login?next=https://evil.example/", data={
        "email": world.worker.key, "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert response.location == "/"


def test_next_page_is_honoured(client, world):
    page = client.get("/login?next=/contacts")
    response = client.post("/login?next=/contacts", data={
        "email": world.worker.key, "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    assert response.location == "/contacts"


def test_inactive_account_cannot_sign_in(client, world, app):
    with app.app_context():
        db.session.get(User, world.worker.id).active = False
        db.session.commit()
    assert login(client, world.worker.key).status_code == 401


def test_cookie_and_header_settings(app, client, world):
    from app.config import Defaults

    assert Defaults.SESSION_COOKIE_SECURE is True
    assert Defaults.SESSION_COOKIE_HTTPONLY is True
    assert Defaults.SESSION_COOKIE_SAMESITE == "Lax"
    login(client, world.worker.key)
    response = client.get("/today")
    cookie = response.request.headers.get("Cookie", "")
    assert "session=" in cookie
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly(client, world):
    page = client.get("/login")
    response = client.post("/login", data={"email": world.worker.key, "password": PASSWORD,
                                           "csrf_token": csrf_from(page.text)})
    set_cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie


def test_passwords_are_argon2id(app, world):
    with app.app_context():
        hashes = db.session.scalars(select(User.password_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_sign_in_attempts_are_limited_per_address(app, client, world):
    from app.extensions import limiter

    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    try:
        statuses = [login(client, "nobody@test.be", "wrong-password").status_code
                    for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        blocked = login(client, world.worker.key)  # even the right password waits
        assert blocked.status_code == 429
        assert "Attendez quelques minutes" in blocked.text
        assert client.get("/login").status_code == 200  # the page itself stays reachable
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
        limiter.reset()
    assert login(client, world.worker.key).status_code == 302
