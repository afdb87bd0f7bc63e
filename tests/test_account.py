"""The person's own account: their open sessions, each of which they can end, and signing
out everywhere else."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent
from app.models.session import UserSession

from .conftest import csrf_from, login


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
