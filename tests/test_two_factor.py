"""Two-factor sign-in (app/auth/two_factor.py, the second step in app/auth/routes.py)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select, text

from app.auth import two_factor
from app.extensions import db, limiter
from app.models import AuditEvent, RecoveryCode, User

from .conftest import PASSWORD, csrf_from, login

SVG = re.compile(r"<svg\b[^>]*class=\"qr\"[^>]*>.*?</svg>", re.S)
URI = re.compile(r'href="(otpauth://totp/[^"]+)"')
CODE_LIST = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


NOW = {"t": 0.0}  # the clock two_factor sees, moved by the tests


@pytest.fixture(autouse=True)
def fresh_throttle_and_clock(monkeypatch):
    limiter.reset()
    NOW["t"] = time.time()
    monkeypatch.setattr(two_factor, "clock", lambda: NOW["t"])
    yield
    limiter.reset()


def _tick(steps: int = 1) -> None:
    NOW["t"] += 30 * steps


@pytest.fixture
def required(app):
    """The production rule: admins and coordinators must have a second factor."""
    saved = app.config["TWO_FACTOR_REQUIRED_ROLES"]
    app.config["TWO_FACTOR_REQUIRED_ROLES"] = ("admin", "coordinator")
    yield
    app.config["TWO_FACTOR_REQUIRED_ROLES"] = saved


def _post(client, url: str, data: dict | None = None, page: str = "/account/two-factor"):
    token = csrf_from(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(NOW["t"] + 30 * steps_ahead)


def _actions(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def _enrol(client, email: str) -> tuple[str, list[str]]:
    """Sign in, enrol and confirm; returns (secret, recovery codes) and signs out."""
    assert login(client, email).status_code == 302
    assert _post(client, "/account/two-factor/start").status_code == 302
    page = client.get("/account/two-factor")
    secret = pyotp.parse_uri(URI.search(page.text).group(1).replace("&amp;", "&")).secret
    done = _post(client, "/account/two-factor/confirm", {"code": _code(secret)})
    assert done.status_code == 200, done.text
    codes = CODE_LIST.findall(done.text)
    _post(client, "/logout", page="/logout")
    return secret, codes


def _password_step(client, email: str, **kwargs):
    page = client.get("/login")
    return client.post("/login" + kwargs.pop("query", ""),
                       data={"email": email, "password": PASSWORD,
                             "csrf_token": csrf_from(page.text)})


def _code_step(client, code: str, field: str = "code", query: str = ""):
    page = client.get("/login/code" + query)
    assert page.status_code == 200, page.status_code
    return client.post("/login/code" + query,
                       data={field: code, "csrf_token": csrf_from(page.text)})


# -- enrolment ------------------------------------------------------------------------------

def test_enrolment_shows_a_qr_the_key_and_the_link(app, client, world):
    login(client, world.worker.key)
    first = client.get("/account/two-factor")
    assert first.status_code == 200 and "<svg" not in first.text
    assert _post(client, "/account/two-factor/start").status_code == 302
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"  # never kept by a cache
    assert "/account/two-factor" not in app.config["OFFLINE_PAGES"]
    svg = SVG.search(page.text)
    assert svg and "<path" in svg.group(0)  # drawn by the app, inline: no outside service
    assert "<img" not in page.text.split("qr-box")[1].split("</div>")[0]
    uri = URI.search(page.text).group(1).replace("&amp;", "&")
    parsed = pyotp.parse_uri(uri)
    assert parsed.issuer == "Relais" and parsed.name == world.worker.key
    secret = parsed.secret
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page.text
    for field in ('inputmode="numeric"', 'autocomplete="one-time-code"', 'name="code"'):
        assert field in page.text

    # Sealed at rest, bound to the row; not yet in force.
    with app.app_context():
        raw = db.session.execute(text("SELECT totp_secret FROM user_account WHERE id = :id"),
                                 {"id": world.worker.id}).scalar_one()
        assert raw and secret not in raw and raw.startswith("v1.")
        user = db.session.get(User, world.worker.id)
        assert two_factor.secret_of(user) == secret and not user.has_two_factor

    wrong = _post(client, "/account/two-factor/confirm",
                  {"code": "000000" if _code(secret) != "000000" else "111111"})
    assert wrong.status_code == 422
    with app.app_context():
        assert not db.session.get(User, world.worker.id).has_two_factor

    done = _post(client, "/account/two-factor/confirm", {"code": _code(secret)})
    assert done.status_code == 200
    codes = CODE_LIST.findall(done.text)
    assert len(codes) == len(set(codes)) == 10
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        assert user.has_two_factor and user.totp_last_step is not None
        stored = db.session.scalars(select(RecoveryCode.code_hash).where(
            RecoveryCode.user_id == user.id)).all()
        assert len(stored) == 10
        dump = " ".join(stored)
        for code in codes:
            assert code not in dump and code.replace("-", "") not in dump
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "two_factor_enabled")).all()
        assert len(events) == 1
        every_detail = repr([e.detail for e in db.session.scalars(select(AuditEvent))])
        assert secret not in every_detail and codes[0] not in every_detail

    # Shown once: the page no longer lists them.
    again = client.get("/account/two-factor")
    assert not CODE_LIST.findall(again.text) and "<svg" not in again.text
    assert "10 sur 10" in again.text


def test_a_secret_copied_to_another_row_does_not_open(app, client, world):
    _enrol(client, world.worker.key)
    with app.app_context():
        worker = db.session.get(User, world.worker.id)
        other = db.session.get(User, world.colleague.id)
        other.totp_secret = worker.totp_secret
        db.session.commit()
        from app.crypto import DecryptionError

        with pytest.raises(DecryptionError):
            two_factor.secret_of(other)


# -- sign-in ------------------------------------------------------------------------------

def test_sign_in_asks_for_the_code_after_the_password(app, client, world):
    secret, _ = _enrol(client, world.worker.key)
    before = len(_actions(app))
    first = _password_step(client, world.worker.key, query="?next=/contacts")
    assert first.status_code == 302 and first.headers["Location"].startswith("/login/code")
    assert _actions(app)[before:] == []  # no "login" before the code
    # Not signed in: pages send to the sign-in form, the API answers 401.
    assert client.get("/today").status_code == 302
    assert client.get("/today").headers["Location"].startswith("/login")
    assert client.get("/account").status_code == 302
    assert client.get("/api/v1/me").status_code == 401
    wrong = _code_step(client, "000000" if _code(secret) != "000000" else "111111",
                       query="?next=/contacts")
    assert wrong.status_code == 401
    assert _actions(app)[before:] == ["login_failed"]
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert event.detail["reason"] == "code"
    # The code of the next step (the phone a little ahead) is accepted once.
    ok = _code_step(client, _code(secret, 1), query="?next=/contacts")
    assert ok.status_code == 302 and ok.headers["Location"] == "/contacts"
    assert _actions(app)[before:] == ["login_failed", "login"]
    assert client.get("/today").status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        step = int(NOW["t"] // 30)
        assert user.totp_last_step == step + 1  # the step matched, not the current one
        assert user.failed_logins == 0


def test_a_code_already_used_is_refused(app, client, world):
    secret, _ = _enrol(client, world.worker.key)  # enrolment used the current step
    _password_step(client, world.worker.key)
    replay = _code_step(client, _code(secret))
    assert replay.status_code == 401
    # An older step is refused too, even never used.
    assert _code_step(client, _code(secret, -1)).status_code == 401
    assert _code_step(client, _code(secret, 1)).status_code == 302
    _post(client, "/logout", page="/logout")
    _password_step(client, world.worker.key)
    assert _code_step(client, _code(secret, 1)).status_code == 401


def test_a_recovery_code_works_once(app, client, world):
    _, codes = _enrol(client, world.worker.key)
    _password_step(client, world.worker.key)
    assert _code_step(client, codes[3].upper().replace("-", " "), field="recovery_code") \
        .status_code == 302
    assert "recovery_code_used" in _actions(app)
    with app.app_context():
        used = db.session.scalars(select(RecoveryCode).where(
            RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 1
    _post(client, "/logout", page="/logout")
    _password_step(client, world.worker.key)
    assert _code_step(client, codes[3], field="recovery_code").status_code == 401
    # Typed in the code field, another one works.
    assert _code_step(client, codes[4]).status_code == 302
    # Another person's code opens nothing.
    _post(client, "/logout", page="/logout")
    _, theirs = _enrol(client, world.colleague.key)
    _password_step(client, world.worker.key)
    assert _code_step(client, theirs[0]).status_code == 401


def test_the_pending_marker_expires(app, client, world):
    secret, _ = _enrol(client, world.worker.key)
    _password_step(client, world.worker.key)
    NOW["t"] += two_factor.PENDING_SECONDS + 5
    gone = client.get("/login/code")
    assert gone.status_code == 302 and gone.headers["Location"].startswith("/login")


def test_wrong_codes_are_throttled_then_lock(app, client, world):
    secret, _ = _enrol(client, world.worker.key)
    wrong = "000000" if _code(secret) != "000000" else "111111"
    _password_step(client, world.worker.key)
    free = app.config["LOGIN_PAIR_FREE_FAILURES"]
    statuses = [_code_step(client, wrong).status_code for _ in range(free + 1)]
    assert statuses == [401] * free + [429]  # the pair now waits, like after passwords
    refused = _code_step(client, _code(secret, 1))  # even the right code waits
    assert refused.status_code == 429 and "Attendez quelques minutes" in refused.text
    with app.app_context():
        assert db.session.get(User, world.worker.id).failed_logins == free

    # The account-wide limit: lowered here, reached by codes from many addresses.
    saved = app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"]
    app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"] = "3 per hour"
    limiter.reset()
    try:
        for n in range(3):
            other = app.test_client()
            other.environ_base["REMOTE_ADDR"] = f"192.0.2.{10 + n}"
            _password_step(other, world.worker.key)
            assert _code_step(other, wrong).status_code == 401
        with app.app_context():
            assert db.session.get(User, world.worker.id).locked_until is not None
        assert "account_locked" in _actions(app)
        owner = app.test_client()
        owner.environ_base["REMOTE_ADDR"] = "198.51.100.7"
        assert _password_step(owner, world.worker.key).status_code == 429
    finally:
        app.config["LOGIN_ACCOUNT_FAILURE_LIMIT"] = saved


def test_nothing_signs_in_with_the_password_alone(app, client, world):
    """Every way in (the form, then pages and API with its cookie) needs the code."""
    _enrol(client, world.worker.key)
    _password_step(client, world.worker.key)
    for path in ("/", "/today", "/contacts", "/account", "/account/two-factor"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], path
    assert client.get("/api/v1/referrals").status_code == 401
    assert client.get("/api/v1/me").status_code == 401
    # The marker is not a session of the person.
    with app.app_context():
        from app.models import UserSession

        assert db.session.scalars(select(UserSession).where(
            UserSession.user_id == world.worker.id)).all() == []


def test_a_person_without_second_factor_signs_in_with_the_password(app, client, world):
    assert login(client, world.worker.key).status_code == 302
    assert client.get("/today").status_code == 200


# -- enforcement ----------------------------------------------------------------------------

def test_a_coordinator_without_it_is_sent_to_enrolment(app, client, world, required):
    assert login(client, world.coordinator.key).status_code == 302
    for path in ("/", "/account", "/evaluation", "/directory"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"] == "/account/two-factor", path
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and api.is_json and api.get_json()["two_factor_required"]
    assert client.get("/account/two-factor").status_code == 200
    for path in ("/sw.js", "/manifest.webmanifest", "/offline", "/static/css/app.css"):
        assert client.get(path).status_code == 200, path
    assert _post(client, "/language", {"lang": "nl"}).status_code == 302
    assert client.get("/logout").status_code == 200
    out = _post(client, "/logout", page="/logout")
    assert out.status_code == 302 and out.headers["Location"] == "/login"
    assert client.get("/account").headers["Location"].startswith("/login")


def test_after_enrolment_the_coordinator_goes_on(app, client, world, required):
    secret, _ = _enrol(client, world.coordinator.key)
    _password_step(client, world.coordinator.key)
    assert _code_step(client, _code(secret, 1)).status_code == 302
    assert client.get("/account").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_roles_not_listed_are_not_sent(app, client, world, required):
    login(client, world.worker.key)
    assert client.get("/today").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_turning_off_is_refused_when_the_role_requires_it(app, client, world, required):
    secret, _ = _enrol(client, world.coordinator.key)
    _password_step(client, world.coordinator.key)
    _code_step(client, _code(secret, 1))
    page = client.get("/account/two-factor")
    assert "/account/two-factor/disable" not in page.text
    refused = _post(client, "/account/two-factor/disable", {"code": _code(secret, -1)})
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.get(User, world.coordinator.id).has_two_factor


def test_turning_off_and_renewing_need_a_current_code(app, client, world):
    secret, codes = _enrol(client, world.worker.key)
    _password_step(client, world.worker.key)
    _code_step(client, _code(secret, 1))
    wrong = "000000" if _code(secret) != "000000" else "111111"
    assert _post(client, "/account/two-factor/recovery-codes", {"code": wrong}) \
        .status_code == 422
    _tick(2)
    renewed = _post(client, "/account/two-factor/recovery-codes", {"code": _code(secret)})
    fresh = CODE_LIST.findall(renewed.text)
    assert renewed.status_code == 200 and len(fresh) == 10 and not set(fresh) & set(codes)
    assert _post(client, "/account/two-factor/disable", {"code": wrong}).status_code == 422
    with app.app_context():
        assert db.session.get(User, world.worker.id).has_two_factor
        # Old codes are gone: only the ten new digests remain.
        assert len(db.session.scalars(select(RecoveryCode)).all()) == 10
    # The same step as the renewal: a replay, refused.
    assert _post(client, "/account/two-factor/disable", {"code": _code(secret)}) \
        .status_code == 422
    off = _post(client, "/account/two-factor/disable", {"code": _code(secret, 1)})
    assert off.status_code == 302
    actions = _actions(app)
    assert "recovery_codes_renewed" in actions and "two_factor_disabled" in actions
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        assert not user.has_two_factor and user.totp_secret is None
        assert db.session.scalars(select(RecoveryCode)).all() == []


# -- the operator's way back in ---------------------------------------------------------------

def test_an_operator_resets_a_lost_second_factor(app, client, world, required):
    secret, _ = _enrol(client, world.admin.key)
    _password_step(client, world.admin.key)
    assert _code_step(client, _code(secret, 1)).status_code == 302
    result = app.test_cli_runner().invoke(args=["user", "reset-two-factor", "Admin@test.be"])
    assert result.exit_code == 0, result.output
    assert "reset" in result.output and "1 open session(s) ended" in result.output
    with app.app_context():
        user = db.session.get(User, world.admin.id)
        assert not user.has_two_factor and user.totp_secret is None
        assert db.session.scalars(select(RecoveryCode)).all() == []
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "two_factor_reset")).one()
        assert event.user_id is None and event.object_id == str(world.admin.id)
    # The phone's session ended; the password alone now leads to enrolment, nothing else.
    assert client.get("/account").headers["Location"].startswith("/login")
    assert login(client, world.admin.key).status_code == 302
    assert client.get("/admin").headers["Location"] == "/account/two-factor"
    missing = app.test_cli_runner().invoke(args=["user", "reset-two-factor", "no@test.be"])
    assert missing.exit_code != 0
