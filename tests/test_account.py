"""The person's own account: their open sessions, each of which they can end, and signing
out everywhere else."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, User
from app.models.session import UserSession

from .conftest import PASSWORD, csrf_from, login


def _signed_in(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def _public_ids(page: str) -> list[str]:
    return re.findall(r'name="session" value="([0-9a-f]{24})"', page)


def test_the_account_lists_the_persons_sessions_and_ends_one(app, world):
    phone = _signed_in(app, world.worker.key)
    laptop = _signed_in(app, world.worker.key)
    _signed_in(app, world.colleague.key)  # someone else's session: never listed
    page = laptop.get("/account")
    assert page.status_code == 200
    ids = _public_ids(page.text)
    assert len(ids) == 1  # the phone's; this device is marked, not offered
    assert "cet appareil" in page.text
    with app.app_context():
        rows = db.session.scalars(select(UserSession.id)).all()
    assert not any(row in page.text for row in rows)  # never a row id in a page
    ended = laptop.post("/account/sessions/end", data={
        "session": ids[0], "csrf_token": csrf_from(page.text)})
    assert ended.status_code == 302
    assert phone.get("/today").status_code == 302  # the phone must sign in again
    assert laptop.get("/today").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "session_ended")) == 1


def test_nobody_ends_someone_elses_session_or_their_own_this_way(app, world):
    other = _signed_in(app, world.colleague.key)
    other_ids = _public_ids(_signed_in(app, world.colleague.key).get("/account").text)
    mine = _signed_in(app, world.worker.key)
    page = mine.get("/account").text
    for wanted in other_ids + ["0" * 24]:
        answer = mine.post("/account/sessions/end", data={
            "session": wanted, "csrf_token": csrf_from(page)})
        assert answer.status_code == 404
    assert other.get("/today").status_code == 200


def test_signing_out_everywhere_else_keeps_this_device(app, world):
    first = _signed_in(app, world.worker.key)
    second = _signed_in(app, world.worker.key)
    here = _signed_in(app, world.worker.key)
    colleague = _signed_in(app, world.colleague.key)
    page = here.get("/account").text
    assert len(_public_ids(page)) == 2
    answer = here.post("/account/sessions/end-others", data={"csrf_token": csrf_from(page)})
    assert answer.status_code == 302
    assert first.get("/today").status_code == 302
    assert second.get("/api/v1/me").status_code == 401
    assert here.get("/today").status_code == 200
    assert colleague.get("/today").status_code == 200
    assert _public_ids(here.get("/account").text) == []


def test_ending_sessions_needs_the_forms_token(app, world):
    phone = _signed_in(app, world.worker.key)
    laptop = _signed_in(app, world.worker.key)
    ids = _public_ids(laptop.get("/account").text)
    assert laptop.post("/account/sessions/end", data={"session": ids[0]}).status_code == 400
    assert laptop.post("/account/sessions/end-others", data={}).status_code == 400
    assert phone.get("/today").status_code == 200


# -- the person's password ---------------------------------------------------------------
NEW_PASSWORD = "violet-tram-Flagey-sous-la-pluie"


def _change_password(client, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    page = client.get("/account/password")
    assert page.status_code == 200
    return client.post("/account/password", data={
        "current_password": current, "new_password": new,
        "confirm": new if confirm is None else confirm, "csrf_token": csrf_from(page.text)})


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app, world):
    phone = _signed_in(app, world.worker.key)
    phone_api_token = phone.get("/api/v1/me").get_json()["csrf_token"]
    here = _signed_in(app, world.worker.key)
    colleague = _signed_in(app, world.colleague.key)
    answer = _change_password(here)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/account")
    assert here.get("/today").status_code == 200
    assert phone.get("/today").status_code == 302  # to the sign-in page
    assert phone.get("/api/v1/me", headers={"X-CSRFToken": phone_api_token}).status_code == 401
    assert colleague.get("/today").status_code == 200
    # The old password opens nothing any more; the new one does.
    assert login(app.test_client(), world.worker.key).status_code == 401
    assert login(app.test_client(), world.worker.key, NEW_PASSWORD).status_code == 302
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "password_changed"))
        assert event.user_id == world.worker.id
        assert event.detail == {"sessions_ended": 1}
        assert NEW_PASSWORD not in str(event.detail)


@pytest.mark.parametrize(("current", "new", "confirm", "field", "message"), [
    ("not-my-password", NEW_PASSWORD, None, "current_password", "pas votre mot de passe"),
    (PASSWORD, "court-court", None, "new_password", "Au moins 12 caractères"),
    (PASSWORD, "password1234", None, "new_password", "trop courant"),
    (PASSWORD, "azertyuiop123", None, "new_password", "trop courant"),
    (PASSWORD, NEW_PASSWORD, "violet-tram-Flagey", "confirm", "pas identiques"),
    (PASSWORD, PASSWORD, None, "new_password", "différent de l&#39;actuel"),
])
def test_a_refused_password_change_says_why_and_changes_nothing(
        app, world, current, new, confirm, field, message):
    here = _signed_in(app, world.worker.key)
    other = _signed_in(app, world.worker.key)
    answer = _change_password(here, current, new, confirm)
    assert answer.status_code == 422
    assert message in answer.text
    # The message stands under its own field.
    block = answer.text.split(f'name="{field}"', 1)[1].split("</div>", 1)[0]
    assert message in block
    assert new not in answer.text  # a password is never written back into the page
    assert other.get("/today").status_code == 200
    assert login(app.test_client(), world.worker.key).status_code == 302


def test_guessing_the_current_password_from_an_open_session_is_throttled(app, world):
    here = _signed_in(app, world.worker.key)
    free = app.config["LOGIN_PAIR_FREE_FAILURES"]
    statuses = [_change_password(here, current=f"guess-number-{i}").status_code
                for i in range(free + 1)]
    assert statuses[:free] == [422] * free
    assert statuses[free] == 429
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "password_change_failed")) == free


# -- the person's language ---------------------------------------------------------------
def test_the_language_chosen_is_kept_on_the_account_for_every_device(app, world):
    laptop = _signed_in(app, world.worker.key)
    page = laptop.get("/account").text
    assert laptop.post("/language", data={"lang": "nl", "next": "/account",
                                          "csrf_token": csrf_from(page)}).status_code == 302
    with app.app_context():
        assert db.session.get(User, world.worker.id).language == "nl"
    phone = _signed_in(app, world.worker.key)  # a new device, never told the language
    assert '<html lang="nl">' in phone.get("/account").text
    assert '<html lang="fr">' in _signed_in(app, world.colleague.key).get("/account").text
    # Signed out, the device shows what it was last told before sign-in.
    assert '<html lang="fr">' in app.test_client().get("/login").text
