from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
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


def test_lock_after_ten_failures_for_fifteen_minutes(client, world, app):
    for _ in range(9):
        assert login(client, world.worker.key, "wrong-password").status_code == 401
    with app.app_context():
        assert db.session.get(User, world.worker.id).locked_until is None
    login(client, world.worker.key, "wrong-password")  # the tenth
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        assert user.locked_until is not None
        remaining = user.locked_until - datetime.now(UTC)
        assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    assert "account_locked" in _actions(app)

    # Locked: even the right password is refused, with the same message.
    refused = login(client, world.worker.key, PASSWORD)
    assert refused.status_code == 401 and GENERIC in refused.text

    # Once the lock has passed, the right password works again.
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    assert login(client, world.worker.key, PASSWORD).status_code == 302


def test_success_resets_the_failure_count(client, world, app):
    for _ in range(5):
        login(client, world.worker.key, "wrong-password")
    assert login(client, world.worker.key).status_code == 302
    with app.app_context():
        assert db.session.get(User, world.worker.id).failed_logins == 0


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
        assert "essais depuis cette connexion" in blocked.text
        assert client.get("/login").status_code == 200  # the page itself stays reachable
    finally:
        app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
        limiter.reset()
    assert login(client, world.worker.key).status_code == 302
