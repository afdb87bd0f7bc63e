"""Sessions kept on the server (app/auth/sessions.py): the cookie carries only a token, the
session is a row, and signing out, the idle timeout, the absolute lifetime and deactivation
each make a copy of the cookie worthless."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from app.auth import sessions
from app.extensions import db
from app.models import User
from app.models.session import UserSession

from .conftest import PASSWORD, csrf_from, login
from .helpers import contact_payload, new_id

PHONE = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Mobile Safari/537.36")


def _token(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def _replay(client, token: str) -> None:
    client.set_cookie("session", token)


def _rows(app, **where) -> list[UserSession]:
    with app.app_context():
        found = db.session.scalars(select(UserSession).filter_by(**where)).all()
        db.session.expunge_all()
        return found


def _row_of(app, token: str) -> UserSession | None:
    with app.app_context():
        row = db.session.get(UserSession, hashlib.sha256(token.encode()).hexdigest())
        if row is not None:
            db.session.expunge(row)
        return row


def _age(app, token: str, **changes) -> None:
    """Move the clock: push the row's timestamps into the past."""
    with app.app_context():
        db.session.execute(update(UserSession).where(
            UserSession.id == hashlib.sha256(token.encode()).hexdigest()).values(**changes))
        db.session.commit()


def _sign_out(client) -> None:
    page = client.get("/logout")
    assert client.post("/logout", data={"csrf_token": csrf_from(page.text)}).status_code == 302


def _contact_with_note(worker_api) -> str:
    contact_id = new_id()
    response = worker_api.put(f"/contacts/{contact_id}", contact_payload(note="à relire"))
    assert response.status_code == 201, response.get_json()
    return contact_id


def test_a_cookie_saved_before_signing_out_opens_nothing_after(app, client, world, worker_api):
    contact_id = _contact_with_note(worker_api)
    saved = _token(client)
    assert client.get(f"/contacts/{contact_id}/note").status_code == 200
    _sign_out(client)
    assert _row_of(app, saved) is None
    _replay(client, saved)
    page = client.get(f"/contacts/{contact_id}/note")
    assert page.status_code == 302 and page.location.startswith("/login")
    assert "à relire" not in page.text
    assert client.get("/today").status_code == 302
    _replay(client, saved)
    api = client.get("/api/v1/me")
    assert api.status_code == 401 and "csrf_token" not in api.get_json()
    _replay(client, saved)
    assert client.get(f"/api/v1/contacts/{contact_id}").status_code == 401


def test_the_cookie_holds_only_the_token(app, client, world, worker_api):
    token = _token(client)
    assert token and len(token) == 43  # 32 random bytes, base64url without padding
    raw = base64.urlsafe_b64decode(token + "=")
    assert len(raw) == 32
    assert b"_user_id" not in raw and b"csrf" not in raw
    assert "." not in token  # not a signed itsdangerous payload either
    row = _row_of(app, token)
    assert row.user_id == world.worker.id
    assert row.data["_user_id"] == str(world.worker.id) and row.data["csrf_token"]


def test_the_language_survives_signing_in_and_out(app, client, world):
    page = client.get("/login")
    client.post("/language", data={"lang": "nl", "next": "/login",
                                   "csrf_token": csrf_from(page.text)})
    before = _token(client)
    assert _row_of(app, before).user_id is None
    login(client, world.worker.key)
    after = _token(client)
    assert after != before
    assert _row_of(app, before) is None  # the anonymous row of the form is gone
    assert _row_of(app, after).data["lang"] == "nl"
    _sign_out(client)
    assert _row_of(app, after) is None
    assert _row_of(app, _token(client)).data["lang"] == "nl"
    assert _row_of(app, _token(client)).user_id is None


def test_anonymous_visitors_with_nothing_to_keep_get_no_row(app, client, world):
    assert client.get("/healthz").status_code == 200
    assert client.get("/today").status_code == 302
    assert _token(client) is None
    assert _rows(app) == []
    client.get("/login")  # the form's CSRF token must be kept: now there is a row
    assert _rows(app)[0].user_id is None


def test_signing_in_gives_a_new_token(app, client, world):
    """No fixation: a token planted before sign-in (here, the form's own) opens nothing."""
    client.get("/login")
    planted = _token(client)
    assert planted
    login(client, world.worker.key)
    assert _token(client) != planted
    _replay(client, planted)
    assert client.get("/api/v1/me").status_code == 401


def test_an_unknown_token_is_an_anonymous_visitor(client, world):
    _replay(client, "x" * 43)
    response = client.get("/today")
    assert response.status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_an_answer_to_an_old_cookie_does_not_clear_a_newer_one(app, client, world, worker_api):
    """On a phone, the queue may still ask with the ended session's cookie while the sign-in
    page has already set a new one: the late answer must not clear the new cookie (the
    sign-in form would then fail for a lost CSRF token)."""
    old = _token(worker_api.client)
    worker_api.client.post("/logout", headers={"X-CSRFToken": worker_api.token})
    fresh = app.test_client()
    page = fresh.get("/login")
    queue = app.test_client()  # the same phone, a request sent with the old cookie
    _replay(queue, old)
    late = queue.get("/api/v1/me")
    assert late.status_code == 401
    assert "Set-Cookie" not in late.headers  # nothing that would replace the new cookie
    signed_in = fresh.post("/login", data={"email": world.worker.key, "password": PASSWORD,
                                           "csrf_token": csrf_from(page.text)})
    assert signed_in.status_code == 302


def test_idle_timeout(app, client, world, worker_api):
    token = _token(client)
    idle = app.config["SESSION_IDLE_MINUTES"]
    _age(app, token, last_seen_at=datetime.now(UTC) - timedelta(minutes=idle - 2))
    assert client.get("/api/v1/me").status_code == 200  # still within the idle time
    _age(app, token, last_seen_at=datetime.now(UTC) - timedelta(minutes=idle + 1))
    assert client.get("/api/v1/me").status_code == 401
    assert _row_of(app, token) is None
    _replay(client, token)
    assert client.get("/today").status_code == 302


def test_absolute_lifetime(app, client, world, worker_api):
    token = _token(client)
    hours = app.config["SESSION_MAX_HOURS"]
    _age(app, token, created_at=datetime.now(UTC) - timedelta(hours=hours, minutes=-5))
    assert client.get("/today").status_code == 200  # busy and not yet at its end
    _age(app, token, created_at=datetime.now(UTC) - timedelta(hours=hours, minutes=1))
    response = client.get("/today")  # used a second ago, but too old
    assert response.status_code == 302 and response.location.startswith("/login")
    assert _row_of(app, token) is None


def test_ends_at_is_the_earlier_end(app, client, world, worker_api):
    token = _token(client)
    now = datetime.now(UTC).replace(microsecond=0)
    _age(app, token, created_at=now - timedelta(days=1), last_seen_at=now)
    with app.app_context():
        row = _row_of(app, token)
        assert sessions.ends_at(row) == now + timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        row.created_at = now - timedelta(hours=app.config["SESSION_MAX_HOURS"]) \
            + timedelta(minutes=30)
        assert sessions.ends_at(row) == now + timedelta(minutes=30)
        assert sessions.ends_at(row).tzinfo is not None


def test_a_deactivated_person_is_stopped_at_the_next_request(app, client, world, worker_api):
    token = _token(client)
    assert client.get("/today").status_code == 200
    with app.app_context():
        db.session.get(User, world.worker.id).active = False
        db.session.commit()
    assert client.get("/api/v1/me").status_code == 401
    assert _row_of(app, token) is None
    _replay(client, token)
    assert client.get("/today").status_code == 302


def test_two_sessions_of_one_person_are_independent(app, world):
    phone, laptop = app.test_client(), app.test_client()
    assert login(phone, world.worker.key).status_code == 302
    assert login(laptop, world.worker.key).status_code == 302
    assert _token(phone) != _token(laptop)
    assert len(_rows(app, user_id=world.worker.id)) == 2
    _sign_out(phone)
    assert phone.get("/today").status_code == 302
    assert laptop.get("/today").status_code == 200
    assert len(_rows(app, user_id=world.worker.id)) == 1


def test_ending_all_sessions_of_a_person(app, world):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, world.worker.key)
    login(laptop, world.worker.key)
    kept = hashlib.sha256(_token(laptop).encode()).hexdigest()
    with app.app_context():
        assert [r.id for r in sessions.sessions_of(world.worker.id)] != []
        assert sessions.end_sessions(world.worker.id, except_id=kept) == 1
        db.session.commit()
    assert phone.get("/today").status_code == 302
    assert laptop.get("/today").status_code == 200
    with app.app_context():
        assert sessions.end_sessions(world.worker.id) == 1
        db.session.commit()
    assert laptop.get("/today").status_code == 302


def test_a_row_that_disagrees_with_its_data_is_refused(app, client, world, worker_api):
    """Flask-Login trusts a person only when the row says it is theirs."""
    token = _token(client)
    _age(app, token, user_id=world.colleague.id)
    assert client.get("/api/v1/me").status_code == 401
    assert _row_of(app, token) is None


def test_last_seen_is_written_at_most_once_a_minute(app, client, world, worker_api):
    token = _token(client)
    seen = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    _age(app, token, last_seen_at=seen)
    for _ in range(3):
        assert client.get("/today").status_code == 200
    assert _row_of(app, token).last_seen_at == seen
    _age(app, token, last_seen_at=seen - timedelta(seconds=31))
    assert client.get("/today").status_code == 200
    assert _row_of(app, token).last_seen_at > seen


def test_the_session_cookie_follows_the_configuration(app, world):
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"email": world.worker.key, "password": PASSWORD,
                                           "csrf_token": csrf_from(page.text)})
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # the tests turn it off, as `make run` does
    assert "Expires=" in set_cookie
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        other = app.test_client()
        assert "Secure" in other.get("/login").headers["Set-Cookie"]
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


def test_sign_in_records_a_short_device_label(app, world):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = PHONE
    login(client, world.worker.key)
    assert _row_of(app, _token(client)).device == "Chrome · Android"
    assert sessions.device_label(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1") == "Safari · iOS"
    assert sessions.device_label(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
        "Firefox/133.0") == "Firefox · Windows"
    assert sessions.device_label("curl/8.5.0") is None
    assert len(sessions.device_label("Firefox/1 Linux " * 500)) <= 120


def test_current_record_and_offline_key(app, client, world, worker_api):
    token = _token(client)
    with app.test_request_context(headers={"Cookie": f"session={token}"}):
        record = sessions.current_record()
        assert record is not None and record.user_id == world.worker.id
        key = sessions.offline_key()
        assert key == sessions.offline_key(record)
        assert len(key) == 32 and token not in key and record.id not in key
    with app.test_request_context():  # no cookie: not signed in
        assert sessions.current_record() is None
        assert sessions.offline_key() is None
    with app.app_context():
        other = UserSession(id="0" * 64, user_id=world.worker.id)
        assert sessions.offline_key(other) != key
    _sign_out(client)
    with app.test_request_context(headers={"Cookie": f"session={_token(client)}"}):
        assert sessions.current_record() is None  # an anonymous row is no signed-in one
    with app.test_request_context(headers={"Cookie": f"session={token}"}):
        assert sessions.current_record() is None


def test_purge_command(app, client, world, worker_api):
    token = _token(client)
    fresh = app.test_client()
    fresh.get("/login")
    with app.app_context():
        db.session.add(UserSession(id="1" * 64, user_id=None, data={"csrf_token": "x"},
                                   last_seen_at=datetime.now(UTC) - timedelta(days=1)))
        db.session.add(UserSession(id="2" * 64, user_id=world.worker.id, data={},
                                   created_at=datetime.now(UTC) - timedelta(days=30)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 expired session(s) deleted" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 2
    assert _row_of(app, token) is not None


def test_signing_in_purges_expired_rows(app, client, world):
    with app.app_context():
        db.session.add(UserSession(id="3" * 64, user_id=world.colleague.id, data={},
                                   last_seen_at=datetime.now(UTC) - timedelta(days=2)))
        db.session.commit()
    login(client, world.worker.key)
    assert _rows(app, id="3" * 64) == []
