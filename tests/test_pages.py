"""The field worker's screens, driven like a browser would (forms, redirects)."""

import re
import uuid

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Contact, Outing

from .conftest import csrf_from, login
from .helpers import contact_payload, new_id


def _signed_in(client, email):
    assert login(client, email).status_code == 302
    return client


def _post_form(client, url, page_url, data):
    token = csrf_from(client.get(page_url).text)
    return client.post(url, data={**data, "csrf_token": token})


def test_today_start_outing_record_contact_stop(client, world, app):
    _signed_in(client, world.worker.key)
    today = client.get("/today")
    assert "Commencer une sortie" in today.text
    response = _post_form(client, "/outings", "/today", {
        "neighbourhood": "colignon", "kind": "maraude", "team": [str(world.colleague.id)],
        "place_label": "Place Colignon"})
    assert response.status_code == 302
    today = client.get("/today")
    assert "Sortie en cours" in today.text and "Yannick" in today.text

    form = client.get("/contacts/new")
    with app.app_context():
        outing = db.session.scalars(select(Outing)).one()
        outing_id = str(outing.id)
    # Defaults: the current outing, its neighbourhood and "now".
    assert f'value="{outing_id}" selected' in form.text
    assert re.search(r'name="occurred_at" type="datetime-local" value="\d{4}-\d\d-\d\dT\d\d:\d\d"',
                     form.text)
    occurred = re.search(r'name="occurred_at" type="datetime-local" value="([^"]+)"',
                         form.text).group(1)
    response = client.post("/contacts/new", data={
        "csrf_token": csrf_from(form.text), "neighbourhood": "colignon", "outing": outing_id,
        "occurred_at": occurred, "people_count": "3", "themes": ["logement", "sante"],
        "situations": ["risque_perte_logement"], "initiative": "aller_vers", "place_type": "rue",
        "person_code": "ZAH 58", "note": "Revoir jeudi", "then": "done"})
    assert response.status_code == 302 and response.location == "/today"
    today = client.get("/today")
    assert "Contact enregistré" in today.text
    assert "Logement, Santé" in today.text
    with app.app_context():
        contact = db.session.scalars(select(Contact)).one()
        assert contact.people_count == 3 and str(contact.outing_id) == outing_id
        assert contact.codes("theme") == ["logement", "sante"]
        assert contact.read_note() == "Revoir jeudi"
        assert contact.person_code_hash is not None

    response = _post_form(client, f"/outings/{outing_id}/stop", "/today", {})
    assert response.status_code == 302
    assert "Commencer une sortie" in client.get("/today").text


def test_starting_an_outing_ends_the_open_one(client, world, app):
    _signed_in(client, world.worker.key)
    for kind in ("maraude", "permanence"):
        _post_form(client, "/outings", "/today", {"neighbourhood": "colignon", "kind": kind})
    with app.app_context():
        outings = db.session.scalars(select(Outing).order_by(Outing.created_at)).all()
        assert [o.ended_at is None for o in outings] == [False, True]


def test_invalid_contact_form_redisplays_with_messages_and_keeps_input(client, world, app):
    _signed_in(client, world.worker.key)
    response = _post_form(client, "/contacts/new", "/contacts/new", {
        "neighbourhood": "colignon", "occurred_at": "2099-01-01T10:00", "people_count": "0",
        "themes": ["logement"], "note": "à garder", "person_code": "SECRET-CODE"})
    assert response.status_code == 422
    assert "Ce moment est dans le futur." in response.text
    assert "Entre 1 et 500." in response.text
    assert 'value="logement" checked' in response.text
    assert "à garder" in response.text
    assert "SECRET-CODE" not in response.text  # never echoed back
    with app.app_context():
        assert db.session.scalar(select(Contact.id)) is None


def test_save_and_new_goes_back_to_an_empty_form(client, world, app):
    _signed_in(client, world.worker.key)
    form = client.get("/contacts/new")
    occurred = re.search(r'name="occurred_at" type="datetime-local" value="([^"]+)"',
                         form.text).group(1)
    response = client.post("/contacts/new", data={
        "csrf_token": csrf_from(form.text), "neighbourhood": "brabant",
        "occurred_at": occurred, "people_count": "4", "themes": ["logement"],
        "situations": ["risque_perte_logement"], "note": "NOTE-PREMIER-CONTACT",
        "person_code": "ZAH 58", "then": "another"})
    assert response.location == "/contacts/new"
    # The record is saved, as it was typed.
    with app.app_context():
        saved = db.session.scalars(select(Contact)).one()
        assert (saved.neighbourhood.code, saved.people_count) == ("brabant", 4)
        assert saved.codes("theme") == ["logement"]
        assert saved.read_note() == "NOTE-PREMIER-CONTACT"
    # The next form is empty: nothing of the contact just saved is carried over.
    again = client.get(response.location)
    assert again.status_code == 200
    assert "NOTE-PREMIER-CONTACT" not in again.text
    assert re.search(r'<textarea id="note" name="note"[^>]*></textarea>', again.text)
    for ticked in ('value="logement" checked', 'value="risque_perte_logement" checked'):
        assert ticked not in again.text  # the themes and situations are not carried over
    assert re.search(r'name="people_count"[^>]*value="1"', again.text), "one person again"
    new_moment = re.search(r'name="occurred_at" type="datetime-local" value="([^"]+)"',
                           again.text)
    assert new_moment is not None  # a fresh "now", not an empty field


def test_contact_page_hides_the_note_until_asked_and_audits_reading(client, world, app):
    _signed_in(client, world.worker.key)
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    contact_id = new_id()
    client.put(f"/api/v1/contacts/{contact_id}", json=contact_payload(note="Note discrète"),
               headers={"X-CSRFToken": token})
    page = client.get(f"/contacts/{contact_id}")
    assert page.status_code == 200
    assert "Note discrète" not in page.text and "Afficher la note" in page.text
    with app.app_context():
        assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note_read")) is None
    shown = client.get(f"/contacts/{contact_id}/note")
    assert "Note discrète" in shown.text
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "note_read")).one()
        assert event.object_id == contact_id and event.user_id == world.worker.id


def test_edit_contact(client, world, app):
    _signed_in(client, world.worker.key)
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    contact_id = new_id()
    client.put(f"/api/v1/contacts/{contact_id}",
               json=contact_payload(note="avant", person_code="AB12"),
               headers={"X-CSRFToken": token})
    form = client.get(f"/contacts/{contact_id}/edit")
    assert "avant" in form.text and "Un code est déjà enregistré" in form.text
    occurred = re.search(r'name="occurred_at" type="datetime-local" value="([^"]+)"',
                         form.text).group(1)
    response = client.post(f"/contacts/{contact_id}/edit", data={
        "csrf_token": csrf_from(form.text), "neighbourhood": "colignon",
        "occurred_at": occurred, "people_count": "4", "themes": ["sante"], "note": "après",
        "person_code": ""})
    assert response.status_code == 302
    with app.app_context():
        contact = db.session.get(Contact, uuid.UUID(contact_id))
        assert contact.people_count == 4 and contact.codes("theme") == ["sante"]
        assert contact.read_note() == "après"
        assert contact.person_code_hash is not None  # empty field keeps the code


def test_contact_list_filters(client, world, app):
    _signed_in(client, world.worker.key)
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    made = {}
    for name, payload in {
        "housing": contact_payload(themes=["logement"]),
        "health_brabant": contact_payload(themes=["sante"], neighbourhood="brabant"),
        "old": contact_payload(themes=["sante"], occurred_at="2026-01-10T10:00:00+01:00"),
        "coded": contact_payload(themes=["emploi_formation"], person_code="XY9"),
    }.items():
        made[name] = new_id()
        client.put(f"/api/v1/contacts/{made[name]}", json=payload, headers={"X-CSRFToken": token})

    def listed(query):
        html = client.get(f"/contacts{query}").text
        return {name for name, cid in made.items() if cid in html}

    assert listed("") == set(made)
    assert listed("?theme=logement") == {"housing"}
    assert listed("?neighbourhood=brabant") == {"health_brabant"}
    assert listed("?to=2026-01-10") == {"old"}
    assert listed("?from=2026-01-11&theme=sante") == {"health_brabant"}
    assert listed("?with_code=1") == {"coded"}
    assert listed("?mine=1") == set(made)
    assert listed("?from=not-a-date") == set(made)  # a bad filter is ignored, not a 500


def test_language_switch(client, world):
    _signed_in(client, world.worker.key)
    page = client.get("/today")
    client.post("/language", data={"lang": "nl", "next": "/today",
                                   "csrf_token": csrf_from(page.text)})
    assert 'lang="nl"' in client.get("/today").text


def test_other_roles_have_their_home(app, world):
    for role, marker in (("coordinator", "Évaluation"), ("partner", "CPAS de Schaerbeek"),
                         ("admin", "Administration")):
        client = app.test_client()
        _signed_in(client, world.user(role).key)
        page = client.get("/", follow_redirects=True)
        assert page.status_code == 200 and marker in page.text
