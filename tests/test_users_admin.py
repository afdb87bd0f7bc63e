"""Accounts in the browser (issue 13): admins manage every account, coordinators the field
workers of their own neighbourhoods; every change audited; the one-time link shown once."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.auth.passwords import UNUSABLE_PASSWORD, verify_password
from app.extensions import db
from app.models import AccountLink, AuditEvent, Neighbourhood, User
from app.models.types import utcnow

from .conftest import PASSWORD, csrf_from, login

LINK = re.compile(r'value="(https?://[^"]+/welcome/[^"]+)"')


def _signed_in(app, email):
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


def _post(client, url, data=None, page="/users"):
    token = csrf_from(client.get(page).text)
    return client.post(url, data={**(data or {}), "csrf_token": token})


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _user(app, email) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.expunge_all()
        return user


def _codes(app, email) -> set[str]:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        return {n.code for n in user.neighbourhoods}


def test_admin_lists_every_account_with_its_state(app, world):
    admin = _signed_in(app, world.admin.key)
    page = admin.get("/users")
    assert page.status_code == 200
    for ref in (world.worker, world.outsider, world.coordinator, world.partner, world.admin):
        assert ref.key in page.text
    assert "Sans double authentification" in page.text


def test_admin_creates_an_account_and_gets_the_link_once(app, world):
    admin = _signed_in(app, world.admin.key)
    answer = _post(admin, "/users/new", {
        "display_name": "Nadia", "email": "Nadia@Test.be", "role": "field_worker",
        "neighbourhoods": [str(world.marolles.id)], "organisation": ""}, page="/users/new")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    url = LINK.search(answer.text).group(1)
    assert url.startswith("http://localhost/welcome/")
    assert "72" in answer.text
    user = _user(app, "nadia@test.be")
    assert user.password_hash == UNUSABLE_PASSWORD and user.active
    assert _codes(app, "nadia@test.be") == {"marolles"}
    assert "user_created" in _actions(app)
    # The list says the invitation is pending; the link is nowhere else to be seen again.
    listing = admin.get("/users").text
    assert "Invitation en attente" in listing
    token = url.rsplit("/", 1)[1]
    assert token not in listing
    assert token not in admin.get(f"/users/{user.id}/edit").text


def test_creation_refuses_bad_input_with_field_messages(app, world):
    admin = _signed_in(app, world.admin.key)
    taken = _post(admin, "/users/new", {
        "display_name": "Twin", "email": world.worker.key.upper(), "role": "field_worker",
        "neighbourhoods": [str(world.colignon.id)]}, page="/users/new")
    assert taken.status_code == 422
    assert "Un compte existe déjà avec cette adresse." in taken.text
    partner = _post(admin, "/users/new", {
        "display_name": "P", "email": "p@test.be", "role": "partner"}, page="/users/new")
    assert partner.status_code == 422
    assert "Un compte partenaire appartient à une organisation." in partner.text
    nonsense = _post(admin, "/users/new", {
        "display_name": "", "email": "not-an-email", "role": "boss",
        "neighbourhoods": ["x"], "organisation": "abc"}, page="/users/new")
    assert nonsense.status_code == 422
    assert "Adresse e-mail non valide." in nonsense.text
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "p@test.be")) is None


def test_admin_edits_role_neighbourhoods_and_organisation(app, world):
    admin = _signed_in(app, world.admin.key)
    page = f"/users/{world.colleague.id}/edit"
    assert admin.get(page).status_code == 200
    saved = _post(admin, page, {
        "display_name": "Yannick B.", "role": "coordinator",
        "neighbourhoods": [str(world.brabant.id), str(world.marolles.id)],
        "organisation": str(world.cpas.id)}, page=page)
    assert saved.status_code == 302
    user = _user(app, world.colleague.key)
    assert (user.display_name, user.role, user.organisation_id) == (
        "Yannick B.", "coordinator", world.cpas.id)
    assert _codes(app, world.colleague.key) == {"brabant", "marolles"}
    assert "user_saved" in _actions(app)


def test_nobody_demotes_or_deactivates_themselves(app, world):
    admin = _signed_in(app, world.admin.key)
    page = f"/users/{world.admin.id}/edit"
    demoted = _post(admin, page, {"display_name": "Admin", "role": "field_worker",
                                  "neighbourhoods": [str(world.colignon.id)]}, page=page)
    assert demoted.status_code == 422
    assert _post(admin, f"/users/{world.admin.id}/deactivate").status_code == 302
    user = _user(app, world.admin.key)
    assert user.role == "admin" and user.active


def test_deactivate_and_reactivate(app, world):
    phone = _signed_in(app, world.worker.key)
    assert phone.get("/today").status_code == 200
    admin = _signed_in(app, world.admin.key)
    assert _post(admin, f"/users/{world.worker.id}/deactivate").status_code == 302
    assert not _user(app, world.worker.key).active
    # The phone's open session ends at its next request; the records stay.
    gone = phone.get("/today")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    assert login(app.test_client(), world.worker.key).status_code == 401
    assert "Désactivé" in admin.get("/users").text
    assert _post(admin, f"/users/{world.worker.id}/reactivate").status_code == 302
    assert login(app.test_client(), world.worker.key).status_code == 302
    actions = _actions(app)
    assert "user_deactivated" in actions and "user_reactivated" in actions


def test_deactivated_session_gets_401_on_the_api(app, world, api_as):
    api = api_as(world.worker.key)
    assert api.get("/referrals").status_code == 200
    admin = _signed_in(app, world.admin.key)
    assert _post(admin, f"/users/{world.worker.id}/deactivate").status_code == 302
    assert api.get("/referrals").status_code == 401
    assert api.get("/me").status_code == 401


def test_reset_password_voids_the_old_one_and_earlier_links(app, world):
    phone = _signed_in(app, world.worker.key)
    admin = _signed_in(app, world.admin.key)
    first = _post(admin, f"/users/{world.worker.id}/reset-password")
    assert first.status_code == 200
    first_url = LINK.search(first.text).group(1)
    second = _post(admin, f"/users/{world.worker.id}/reset-password")
    second_url = LINK.search(second.text).group(1)
    assert first_url != second_url
    # The old password no longer opens the account, and its sessions are closed.
    assert login(app.test_client(), world.worker.key, PASSWORD).status_code == 401
    assert phone.get("/today").status_code == 302
    # Only the latest link works.
    fresh = app.test_client()
    assert fresh.get(first_url).status_code == 404
    assert fresh.get(second_url).status_code == 302
    assert "password_reset_link" in _actions(app)


def test_reset_two_factor_is_for_admins(app, world):
    lost_phone = _signed_in(app, world.worker.key)  # a session the lost phone still holds
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        user.totp_enabled_at = utcnow()
        db.session.commit()
    coordinator = _signed_in(app, world.coordinator.key)
    assert _post(coordinator, f"/users/{world.worker.id}/reset-two-factor").status_code == 404
    assert _user(app, world.worker.key).has_two_factor
    assert lost_phone.get("/today").status_code == 200
    admin = _signed_in(app, world.admin.key)
    assert _post(admin, f"/users/{world.worker.id}/reset-two-factor").status_code == 302
    assert not _user(app, world.worker.key).has_two_factor
    assert lost_phone.get("/today").status_code == 302  # signed out with the factor
    assert "two_factor_reset" in _actions(app)


def test_unlock_from_the_account_page(app, world):
    with app.app_context():
        user = db.session.get(User, world.worker.id)
        user.locked_until = utcnow() + timedelta(hours=1)
        user.failed_logins = 7
        db.session.commit()
    coordinator = _signed_in(app, world.coordinator.key)
    page = coordinator.get(f"/users/{world.worker.id}/edit")
    assert "Débloquer" in page.text and "Bloqué" in page.text
    done = _post(coordinator, f"/admin/users/{world.worker.id}/unlock",
                 {"next": f"/users/{world.worker.id}/edit"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/edit")
    user = _user(app, world.worker.key)
    assert user.locked_until is None and user.failed_logins == 0
    assert "user_unlocked" in _actions(app)


# -- coordinators ----------------------------------------------------------------------------

def test_coordinator_sees_only_their_field_workers(app, world):
    coordinator = _signed_in(app, world.coordinator.key)
    listing = coordinator.get("/users").text
    assert world.worker.key in listing and world.colleague.key in listing
    for ref in (world.outsider, world.partner, world.admin, world.coordinator):
        assert ref.key not in listing
    for ref in (world.outsider, world.admin, world.partner):
        assert coordinator.get(f"/users/{ref.id}/edit").status_code == 404
        assert _post(coordinator, f"/users/{ref.id}/deactivate").status_code == 404
        assert _post(coordinator, f"/users/{ref.id}/reset-password").status_code == 404
    assert _user(app, world.outsider.key).active


def test_coordinator_creates_field_workers_in_their_neighbourhoods_only(app, world):
    coordinator = _signed_in(app, world.coordinator.key)
    form = coordinator.get("/users/new").text
    assert "Marolles" not in form  # not one of theirs: not offered
    boss = _post(coordinator, "/users/new", {
        "display_name": "Chef", "email": "chef@test.be", "role": "coordinator",
        "neighbourhoods": [str(world.colignon.id)]}, page="/users/new")
    assert boss.status_code == 422 and "Vous ne pouvez pas donner ce rôle." in boss.text
    elsewhere = _post(coordinator, "/users/new", {
        "display_name": "Loin", "email": "loin@test.be", "role": "field_worker",
        "neighbourhoods": [str(world.marolles.id)]}, page="/users/new")
    assert elsewhere.status_code == 422
    assert "Vous ne pouvez donner que les quartiers où vous travaillez." in elsewhere.text
    with app.app_context():
        assert db.session.scalar(select(User).where(
            User.email.in_(["chef@test.be", "loin@test.be"]))) is None
    made = _post(coordinator, "/users/new", {
        "display_name": "Nouvelle", "email": "nouvelle@test.be", "role": "field_worker",
        "neighbourhoods": [str(world.brabant.id)]}, page="/users/new")
    assert made.status_code == 200 and LINK.search(made.text)
    assert _codes(app, "nouvelle@test.be") == {"brabant"}


def test_coordinator_edits_only_their_own_neighbourhoods_of_a_worker(app, world):
    with app.app_context():  # the colleague also works in Marolles, out of the coordinator's
        user = db.session.get(User, world.colleague.id)
        user.neighbourhoods.append(db.session.get(Neighbourhood, world.marolles.id))
        db.session.commit()
    coordinator = _signed_in(app, world.coordinator.key)
    page = f"/users/{world.colleague.id}/edit"
    adding_marolles = _post(coordinator, page, {
        "display_name": "Yannick", "role": "field_worker",
        "neighbourhoods": [str(world.marolles.id)]}, page=page)
    assert adding_marolles.status_code == 422
    promoting = _post(coordinator, page, {
        "display_name": "Yannick", "role": "coordinator",
        "neighbourhoods": [str(world.colignon.id)]}, page=page)
    assert promoting.status_code == 422
    moved = _post(coordinator, page, {
        "display_name": "Yannick", "role": "field_worker",
        "neighbourhoods": [str(world.brabant.id)]}, page=page)
    assert moved.status_code == 302
    # Colignon swapped for Brabant; Marolles, not the coordinator's to give or take, stays.
    assert _codes(app, world.colleague.key) == {"brabant", "marolles"}
    assert _user(app, world.colleague.key).role == "field_worker"


def test_coordinator_can_deactivate_reset_and_reactivate_their_worker(app, world):
    coordinator = _signed_in(app, world.coordinator.key)
    assert _post(coordinator, f"/users/{world.worker.id}/deactivate").status_code == 302
    assert not _user(app, world.worker.key).active
    # Still theirs to manage while deactivated.
    assert coordinator.get(f"/users/{world.worker.id}/edit").status_code == 200
    assert _post(coordinator, f"/users/{world.worker.id}/reactivate").status_code == 302
    reset = _post(coordinator, f"/users/{world.worker.id}/reset-password")
    assert reset.status_code == 200 and LINK.search(reset.text)
    with app.app_context():
        link = db.session.scalar(select(AccountLink))
        assert link.created_by_id == world.coordinator.id
        assert not verify_password(db.session.get(User, world.worker.id).password_hash, PASSWORD)


def test_other_roles_manage_no_account(app, world):
    for ref in (world.worker, world.partner):
        client = _signed_in(app, ref.key)
        assert client.get("/users").status_code == 403
        assert client.get("/users/new").status_code == 403
        assert client.get(f"/users/{ref.id}/edit").status_code == 404
