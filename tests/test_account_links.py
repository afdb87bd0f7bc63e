"""One-time links (issue 13): stored hashed, valid 72 hours, single use, one answer for every
link that does not work; the token never stays in the address bar; the command line's
`user invite` and `user deactivate`."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import select, update

from app.extensions import db
from app.models import AccountLink, AuditEvent, User
from app.models.types import utcnow

from .conftest import PASSWORD, csrf_from, login

NEW_PASSWORD = "violet tramway accordion 42"
LINK = re.compile(r'value="(https?://[^"]+/welcome/[^"]+)"')
GONE = "Ce lien ne fonctionne plus"


def _invite(app, world, email="nadia@test.be") -> str:
    """The path of a fresh invitation link, made by the admin in the browser."""
    admin = app.test_client()
    assert login(admin, world.admin.key).status_code == 302
    token = csrf_from(admin.get("/users/new").text)
    answer = admin.post("/users/new", data={
        "csrf_token": token, "display_name": "Nadia", "email": email, "role": "field_worker",
        "neighbourhoods": [str(world.colignon.id)]})
    assert answer.status_code == 200, answer.text
    return urlsplit(LINK.search(answer.text).group(1)).path


def _open(client, path):
    """Open a link as a phone would: the token address, then the page it leads to."""
    first = client.get(path)
    assert first.status_code == 302 and first.headers["Location"] == "/welcome"
    page = client.get("/welcome")
    assert page.status_code == 200
    return page


def _choose(client, page, password=NEW_PASSWORD, confirm=None):
    return client.post("/welcome", data={"csrf_token": csrf_from(page.text),
                                         "new_password": password,
                                         "confirm": password if confirm is None else confirm})


def _use(app, path):
    phone = app.test_client()
    assert _choose(phone, _open(phone, path)).status_code == 302


def _all_values(app) -> str:
    with app.app_context():
        return repr([db.session.execute(select(table)).all()
                     for table in db.metadata.sorted_tables])


def test_an_invitation_sets_the_password_and_signs_in(app, world):
    path = _invite(app, world)
    token = path.rsplit("/", 1)[1]
    phone = app.test_client()
    page = _open(phone, path)
    assert token not in page.text and "nadia@test.be" in page.text
    done = _choose(phone, page)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert phone.get("/account").status_code == 200
    assert login(app.test_client(), "nadia@test.be", NEW_PASSWORD).status_code == 302
    with app.app_context():
        link = db.session.scalar(select(AccountLink))
        assert link.used_at is not None
        assert "password_set" in db.session.scalars(select(AuditEvent.action)).all()


def test_the_token_is_stored_only_as_its_hash(app, world):
    path = _invite(app, world)
    token = path.rsplit("/", 1)[1]
    with app.app_context():
        link = db.session.scalar(select(AccountLink))
        assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in _all_values(app)
    _use(app, path)
    assert token not in _all_values(app)


def test_weak_or_mismatched_passwords_are_refused_per_field(app, world):
    phone = app.test_client()
    page = _open(phone, _invite(app, world))
    short = _choose(phone, page, "short")
    assert short.status_code == 422 and "Au moins 12 caractères." in short.text
    common = _choose(phone, page, "password1234")
    assert common.status_code == 422 and "trop courant" in common.text
    different = _choose(phone, page, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert different.status_code == 422 and "ne sont pas identiques" in different.text
    # Still usable after the refusals.
    assert _choose(phone, page).status_code == 302


def test_a_link_works_once(app, world):
    path = _invite(app, world)
    _use(app, path)
    again = app.test_client().get(path)
    assert again.status_code == 404 and GONE in again.text


def test_two_tabs_cannot_both_use_a_link(app, world):
    path = _invite(app, world)
    tab_a, tab_b = app.test_client(), app.test_client()
    page_a, page_b = _open(tab_a, path), _open(tab_b, path)
    assert _choose(tab_a, page_a).status_code == 302
    late = _choose(tab_b, page_b, "another long passphrase here")
    assert late.status_code == 404 and GONE in late.text
    assert login(app.test_client(), "nadia@test.be", NEW_PASSWORD).status_code == 302


def test_a_link_expires_after_72_hours(app, world):
    path = _invite(app, world)
    with app.app_context():
        link = db.session.scalar(select(AccountLink))
        assert timedelta(hours=71) < link.expires_at - link.created_at <= timedelta(hours=72)
        db.session.execute(update(AccountLink).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    expired = app.test_client().get(path)
    assert expired.status_code == 404


def test_expiry_while_the_form_is_open(app, world):
    path = _invite(app, world)
    phone = app.test_client()
    page = _open(phone, path)
    with app.app_context():
        db.session.execute(update(AccountLink).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert _choose(phone, page).status_code == 404


def test_unknown_expired_and_used_links_answer_alike(app, world):
    unknown = app.test_client().get("/welcome/" + "A" * 43)
    path = _invite(app, world)
    _use(app, path)
    used = app.test_client().get(path)
    other = _invite(app, world, "other@test.be")
    with app.app_context():
        db.session.execute(update(AccountLink).where(AccountLink.used_at.is_(None)).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    expired = app.test_client().get(other)
    assert unknown.status_code == used.status_code == expired.status_code == 404
    bare = app.test_client().get("/welcome")  # no link in the session: the same answer
    # Alike but for the CSRF token and the address the language switch returns to.
    pages = [re.sub(r'name="next" value="[^"]*"', "", page.text.replace(csrf_from(page.text), ""))
             for page in (unknown, used, expired, bare)]
    assert len(set(pages)) == 1 and GONE in pages[0]


def test_a_deactivated_account_link_does_not_work(app, world):
    path = _invite(app, world)
    with app.app_context():
        db.session.execute(update(User).where(User.email == "nadia@test.be").values(
            active=False))
        db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_a_shared_phone_signs_out_whoever_was_signed_in(app, world):
    path = _invite(app, world)
    phone = app.test_client()
    assert login(phone, world.worker.key).status_code == 302
    assert phone.get("/today").status_code == 200
    page = _open(phone, path)
    assert world.worker.key not in page.text
    with app.app_context():  # the worker's session row is gone
        from app.models.session import UserSession
        assert db.session.scalar(select(UserSession).where(
            UserSession.user_id == world.worker.id)) is None
    assert _choose(phone, page).status_code == 302
    assert phone.get("/today").status_code == 200  # Nadia is a field worker of Colignon


def test_reset_link_replaces_the_old_password_and_ends_sessions(app, world):
    old_phone = app.test_client()
    assert login(old_phone, world.worker.key).status_code == 302
    admin = app.test_client()
    assert login(admin, world.admin.key).status_code == 302
    answer = admin.post(f"/users/{world.worker.id}/reset-password",
                        data={"csrf_token": csrf_from(admin.get("/users").text)})
    path = urlsplit(LINK.search(answer.text).group(1)).path
    assert old_phone.get("/today").status_code == 302  # signed out
    assert login(app.test_client(), world.worker.key, PASSWORD).status_code == 401
    phone = app.test_client()
    assert _choose(phone, _open(phone, path)).status_code == 302
    assert login(app.test_client(), world.worker.key, PASSWORD).status_code == 401
    assert login(app.test_client(), world.worker.key, NEW_PASSWORD).status_code == 302


def test_a_link_never_bypasses_the_second_factor(app, world):
    with app.app_context():
        db.session.execute(update(User).where(User.id == world.worker.id).values(
            totp_enabled_at=utcnow()))
        db.session.commit()
    admin = app.test_client()
    assert login(admin, world.admin.key).status_code == 302
    answer = admin.post(f"/users/{world.worker.id}/reset-password",
                        data={"csrf_token": csrf_from(admin.get("/users").text)})
    path = urlsplit(LINK.search(answer.text).group(1)).path
    phone = app.test_client()
    done = _choose(phone, _open(phone, path))
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    assert phone.get("/today").status_code == 302


# -- the command line ------------------------------------------------------------------------

def test_cli_invite_prints_a_working_link(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "invite", "Cli@Test.be", "--role", "field_worker",
                                 "--neighbourhood", "brabant", "--name", "Cli"])
    assert result.exit_code == 0, result.output
    url = re.search(r"(https?://\S+/welcome/\S+)", result.output).group(1)
    assert url.startswith(app.config["PUBLIC_BASE_URL"] + "/welcome/")
    phone = app.test_client()
    assert _choose(phone, _open(phone, urlsplit(url).path)).status_code == 302
    assert login(app.test_client(), "cli@test.be", NEW_PASSWORD).status_code == 302
    # Inviting again voids the earlier link and gives a new one.
    again = runner.invoke(args=["user", "invite", "cli@test.be", "--role", "field_worker",
                                "--neighbourhood", "brabant"])
    assert again.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(sa.func.count()).select_from(AccountLink).where(
            AccountLink.used_at.is_(None), AccountLink.expires_at > utcnow())) == 1


def test_cli_invite_refuses_bad_input(app, world):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["user", "invite", "p@test.be", "--role", "partner"]).exit_code != 0
    assert runner.invoke(args=["user", "invite", "w@test.be", "--role", "field_worker",
                               "--neighbourhood", "atlantis"]).exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email.in_(
            ["p@test.be", "w@test.be"]))) is None


def test_cli_deactivate(app, world, api_as):
    api = api_as(world.worker.key)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "deactivate", world.worker.key])
    assert result.exit_code == 0, result.output
    assert api.get("/me").status_code == 401
    unknown = runner.invoke(args=["user", "deactivate", "nobody@test.be"])
    assert unknown.exit_code != 0 and "nobody@test.be" in unknown.output
    with app.app_context():
        assert not db.session.get(User, world.worker.id).active
        assert "user_deactivated" in db.session.scalars(select(AuditEvent.action)).all()
