"""Bridge follow-ups (suivis-pont) and the history behind a person code."""

import hashlib
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.bridges.service import follow_ups
from app.extensions import db
from app.models import AuditEvent, Bridge, BridgeStep

from .conftest import Api, csrf_from, login
from .helpers import contact_payload, new_id


@pytest.fixture
def team(app, world):
    return Api(app.test_client(), world.worker.key)


def _contact(api, code="ZAH-58", neighbourhood="colignon", **kw):
    contact_id = new_id()
    response = api.put(f"/contacts/{contact_id}", contact_payload(
        person_code=code, neighbourhood=neighbourhood, **kw))
    assert response.status_code == 201, response.get_json()
    return contact_id


def _open(api, contact_id, **fields):
    bridge_id = new_id()
    response = api.put(f"/bridges/{bridge_id}", {"contact": contact_id, **fields})
    assert response.status_code == 201, response.get_json()
    return bridge_id


def _close(api, bridge_id, **payload):
    return api.client.post(f"/api/v1/bridges/{bridge_id}/close", json=payload,
                           headers={"X-CSRFToken": api.token})


def test_open_bridge_takes_the_contacts_code_and_neighbourhood(app, team, world):
    contact_id = _contact(team)
    bridge_id = _open(team, contact_id, organisation=world.cpas.id,
                      next_step_due="2026-12-01")
    body = team.get(f"/bridges/{bridge_id}").get_json()
    assert body["neighbourhood"] == "colignon" and body["lead"] == world.worker.id
    assert body["status"] == "open" and body["organisation"] == world.cpas.id
    with app.app_context():
        bridge = db.session.get(Bridge, uuid.UUID(bridge_id))
        assert bridge.person_code_hash == bridge.origin_contact.person_code_hash
    assert team.put(f"/bridges/{bridge_id}", {"contact": contact_id,
                                              "organisation": world.cpas.id,
                                              "next_step_due": "2026-12-01"}).status_code == 200


def test_a_bridge_needs_a_person_code(team):
    contact_id = new_id()
    team.put(f"/contacts/{contact_id}", contact_payload())
    response = team.put(f"/bridges/{new_id()}", {"contact": contact_id})
    assert response.status_code == 422 and "contact" in response.get_json()["errors"]


def test_one_open_bridge_per_person_and_neighbourhood(team):
    first = _contact(team, code="AB 12")
    _open(team, first)
    second = _contact(team, code="ab-12")  # the same person, typed differently
    response = team.put(f"/bridges/{new_id()}", {"contact": second})
    assert response.status_code == 409


def test_steps_and_notes_are_invisible_outside_the_team(app, team, world):
    bridge_id = _open(team, _contact(team))
    step_id = new_id()
    assert team.put(f"/bridges/{bridge_id}/steps/{step_id}", {
        "occurred_on": "2026-11-20", "kind": "appel", "note": "NOTE-PONT"}).status_code == 201
    for email in (world.coordinator.key, world.partner.key, world.admin.key,
                  world.outsider.key):
        other = Api(app.test_client(), email)
        for path in (f"/bridges/{bridge_id}", f"/bridges/{bridge_id}/notes"):
            page = other.client.get(path)
            assert page.status_code == 404 and "NOTE-PONT" not in page.text
        assert other.get(f"/bridges/{bridge_id}").status_code == 404
        assert other.put(f"/bridges/{bridge_id}/steps/{step_id}", {
            "occurred_on": "2026-11-20", "kind": "appel"}).status_code == 404
        assert "NOTE-PONT" not in other.get("/bridges").text
    with app.app_context():
        stored = db.session.get(BridgeStep, uuid.UUID(step_id)).note
    assert stored.startswith("v1.") and "PONT" not in stored


def test_step_notes_are_shown_on_demand_and_audited(app, team):
    bridge_id = _open(team, _contact(team))
    team.put(f"/bridges/{bridge_id}/steps/{new_id()}", {
        "occurred_on": "2026-11-20", "kind": "appel", "note": "NOTE-PONT"})
    page = team.client.get(f"/bridges/{bridge_id}")
    assert "NOTE-PONT" not in page.text and "Afficher les notes" in page.text
    assert "NOTE-PONT" in team.client.get(f"/bridges/{bridge_id}/notes").text
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "note_read", AuditEvent.object_id == bridge_id)).all()
    assert len(events) == 1


def test_the_same_step_sent_twice_is_one_step(app, team):
    bridge_id = _open(team, _contact(team))
    step_id = new_id()
    step = {"occurred_on": "2026-11-20", "kind": "accompagnement_physique", "note": "ok"}
    assert team.put(f"/bridges/{bridge_id}/steps/{step_id}", step).status_code == 201
    assert team.put(f"/bridges/{bridge_id}/steps/{step_id}", step).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BridgeStep)) == 1


def test_a_closed_bridge_takes_no_new_step(app, team, world):
    bridge_id = _open(team, _contact(team))
    early = new_id()
    step = {"occurred_on": "2026-11-20", "kind": "appel"}
    team.put(f"/bridges/{bridge_id}/steps/{early}", step)
    assert _close(team, bridge_id, outcome="perdu_de_vue").status_code == 200
    late = team.put(f"/bridges/{bridge_id}/steps/{new_id()}", step)
    assert late.status_code == 409
    assert team.put(f"/bridges/{bridge_id}/steps/{early}", step).status_code == 200  # retry
    page = team.client.get(f"/bridges/{bridge_id}")
    response = team.client.post(f"/bridges/{bridge_id}/steps", data={
        "csrf_token": csrf_from(page.text), "step_id": new_id(), "occurred_on": "2026-11-21",
        "kind": "appel"})
    assert response.status_code == 302
    assert "ne prend plus" in team.client.get(response.location).text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BridgeStep)) == 1


@pytest.mark.parametrize("payload,field", [
    ({"occurred_on": "hier", "kind": "appel"}, "occurred_on"),
    ({"occurred_on": "2099-01-01", "kind": "appel"}, "occurred_on"),
    ({"occurred_on": "2026-11-20", "kind": "pigeon"}, "kind"),
    ({"occurred_on": "2026-11-20"}, "kind"),
    ({"occurred_on": "2026-11-20", "kind": "appel", "note": "x" * 4001}, "note"),
    ({"occurred_on": "2026-11-20", "kind": "appel", "who": "Jean"}, "who"),
])
def test_malformed_step_is_422(app, team, payload, field):
    bridge_id = _open(team, _contact(team))
    response = team.put(f"/bridges/{bridge_id}/steps/{new_id()}", payload)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BridgeStep)) == 0


def test_handover_only_within_the_neighbourhood_team(app, team, world):
    bridge_id = _open(team, _contact(team))
    refused = team.put(f"/bridges/{bridge_id}", {"lead": world.outsider.id})
    assert refused.status_code == 422 and "lead" in refused.get_json()["errors"]
    coordinator = team.put(f"/bridges/{bridge_id}", {"lead": world.coordinator.id})
    assert coordinator.status_code == 422
    page = team.client.get(f"/bridges/{bridge_id}")
    assert "Sofia" not in page.text  # the outsider is not offered
    response = team.client.post(f"/bridges/{bridge_id}/handover", data={
        "csrf_token": csrf_from(page.text), "lead": str(world.colleague.id)})
    assert response.status_code == 302
    body = team.get(f"/bridges/{bridge_id}").get_json()
    assert body["lead"] == world.colleague.id
    assert body["handovers"][0]["from"] == world.worker.id
    assert body["handovers"][0]["to"] == world.colleague.id


def test_close_attached_needs_the_service(team, world):
    bridge_id = _open(team, _contact(team))
    missing = _close(team, bridge_id, outcome="accroche_service")
    assert missing.status_code == 422 and "organisation" in missing.get_json()["errors"]
    assert _close(team, bridge_id, outcome="nope").status_code == 422
    done = _close(team, bridge_id, outcome="accroche_service", organisation=world.cpas.id)
    assert done.status_code == 200
    assert done.get_json()["attached_organisation"] == world.cpas.id
    again = _close(team, bridge_id, outcome="accroche_service", organisation=world.cpas.id)
    assert again.status_code == 200
    assert _close(team, bridge_id, outcome="refus").status_code == 409


# -- follow-ups with a fixed clock -------------------------------------------------------------
def _bridge(opened: date, due: date | None) -> Bridge:
    return Bridge(id=uuid.uuid4(), opened_at=datetime(opened.year, opened.month, opened.day,
                                                      10, tzinfo=UTC), next_step_due=due)


def test_follow_ups_put_overdue_first_and_flag_long_open_ones():
    today = date(2026, 11, 24)
    on_time = _bridge(date(2026, 11, 1), date(2026, 11, 30))
    late_3 = _bridge(date(2026, 10, 1), date(2026, 11, 21))
    late_10 = _bridge(date(2026, 11, 2), date(2026, 11, 14))
    due_today = _bridge(date(2026, 11, 10), today)
    no_date = _bridge(date(2026, 11, 20), None)
    long_open = _bridge(today - timedelta(days=91), date(2026, 12, 5))
    exactly_90 = _bridge(today - timedelta(days=90), date(2026, 12, 6))
    items = follow_ups([on_time, late_3, no_date, long_open, late_10, due_today, exactly_90],
                       today, review_days=90)
    assert [i.bridge for i in items] == [late_10, late_3, due_today, on_time, long_open,
                                         exactly_90, no_date]
    flags = {id(i.bridge): i for i in items}
    assert flags[id(late_10)].overdue and flags[id(late_10)].days_late == 10
    assert flags[id(late_3)].days_late == 3
    assert not flags[id(due_today)].overdue
    assert flags[id(long_open)].needs_review and not flags[id(exactly_90)].needs_review
    assert not flags[id(on_time)].needs_review


def test_my_follow_ups_page_marks_overdue_and_review(app, team, world, monkeypatch):
    fixed = datetime(2027, 3, 1, 12, tzinfo=UTC)
    late = _open(team, _contact(team, code="L1"), next_step_due="2027-02-20")
    _open(team, _contact(team, code="L2"), next_step_due="2027-03-10")
    monkeypatch.setattr("app.bridges.routes.local_now", lambda: fixed)
    page = team.client.get("/bridges").text
    first_row = re.search(r'href="/bridges/([0-9a-f-]{36})"', page).group(1)
    assert first_row == late
    assert "Étape en retard de 9 jours" in page
    assert "À revoir" in page  # opened today (2026) → more than 90 days before 2027-03-01


def test_follow_ups_list_only_my_neighbourhoods(app, team, world):
    outsider = Api(app.test_client(), world.outsider.key)
    theirs = _open(outsider, _contact(outsider, neighbourhood="marolles"))
    mine = _open(team, _contact(team))
    page = team.client.get("/bridges?team=1").text
    assert mine in page and theirs not in page


# -- person-code history -----------------------------------------------------------------------
def test_history_behind_a_code_stays_within_my_neighbourhoods(app, team, world):
    outsider = Api(app.test_client(), world.outsider.key)
    _contact(outsider, code="SAME-1", neighbourhood="marolles", themes=["sante"])
    _contact(team, code="same 1", themes=["logement"])
    _contact(team, code="SAME1", neighbourhood="brabant", themes=["famille"])
    _contact(team, code="OTHER-9")
    response = team.client.post("/api/v1/person-codes/history", json={"person_code": "Same-1"},
                                headers={"X-CSRFToken": team.token})
    body = response.get_json()
    assert body["contact_count"] == 2
    assert sorted(t for c in body["contacts"] for t in c["themes"]) == ["famille", "logement"]
    assert {c["neighbourhood"] for c in body["contacts"]} == {"colignon", "brabant"}
    text = response.text.lower()
    assert "same" not in text and "same1" not in text
    sha = hashlib.sha256(b"same1").hexdigest()
    assert sha not in text


def test_history_only_for_field_workers(app, world):
    for role in ("coordinator", "partner", "admin"):
        api = Api(app.test_client(), world.user(role).key)
        response = api.client.post("/api/v1/person-codes/history", json={"person_code": "X1"},
                                   headers={"X-CSRFToken": api.token})
        assert response.status_code == 403


def test_history_fragment_never_echoes_the_code(app, team):
    _contact(team, code="ZED-77")
    page = team.client.get("/contacts/new")
    fragment = team.client.post("/person-code-history", data={
        "csrf_token": csrf_from(page.text), "person_code": "zed 77"})
    assert fragment.status_code == 200
    assert "1 autre contact avec ce code" in fragment.text
    assert "zed" not in fragment.text.lower()
    empty = team.client.post("/person-code-history", data={
        "csrf_token": csrf_from(page.text), "person_code": "NEVER-SEEN"})
    assert "aucun autre contact" in empty.text
    with app.app_context():
        lookups = db.session.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "person_code_lookup")).all()
    assert len(lookups) == 2 and all("zed" not in str(d).lower() for d in lookups)


def test_the_demo_story_on_pages(app, world):
    """Open a bridge from a contact, add a call and an accompaniment, hand it to a colleague
    who closes it as attached to a service; a new contact with the same code shows it all."""
    worker = app.test_client()
    login(worker, world.worker.key)
    token = worker.get("/api/v1/me").get_json()["csrf_token"]
    contact_id = new_id()
    worker.put(f"/api/v1/contacts/{contact_id}", json=contact_payload(person_code="KIM-3"),
               headers={"X-CSRFToken": token})
    contact_page = worker.get(f"/contacts/{contact_id}")
    assert "Ouvrir un suivi-pont" in contact_page.text
    form = worker.get(f"/contacts/{contact_id}/bridge")
    opened = worker.post(f"/contacts/{contact_id}/bridge", data={
        "csrf_token": csrf_from(form.text), "lead": str(world.worker.id),
        "organisation": str(world.cpas.id), "next_step_due": "2026-12-01"})
    assert opened.status_code == 302
    bridge_url = opened.location
    for kind, day in (("appel", "2026-11-20"), ("accompagnement_physique", "2026-11-22")):
        page = worker.get(bridge_url)
        step_id = re.search(r'name="step_id" value="([0-9a-f-]{36})"', page.text).group(1)
        added = worker.post(f"{bridge_url}/steps", data={
            "csrf_token": csrf_from(page.text), "step_id": step_id, "occurred_on": day,
            "kind": kind, "note": f"étape {kind}"})
        assert added.status_code == 302
    page = worker.get(bridge_url)
    assert "Appel" in page.text and "Accompagnement physique" in page.text
    handed = worker.post(f"{bridge_url}/handover", data={
        "csrf_token": csrf_from(page.text), "lead": str(world.colleague.id)})
    assert handed.status_code == 302

    colleague = app.test_client()
    login(colleague, world.colleague.key)
    follow = colleague.get("/bridges")
    assert bridge_url in follow.text
    page = colleague.get(bridge_url)
    closed = colleague.post(f"{bridge_url}/close", data={
        "csrf_token": csrf_from(page.text), "outcome": "accroche_service",
        "organisation": str(world.cpas.id)})
    assert closed.status_code == 302
    closed_page = colleague.get(bridge_url).text
    assert "Clôturé le" in closed_page and "CPAS de Schaerbeek" in closed_page

    new_form = worker.get("/contacts/new")
    history = worker.post("/person-code-history", data={
        "csrf_token": csrf_from(new_form.text), "person_code": "kim 3"})
    assert "1 autre contact avec ce code" in history.text
    assert "Suivi-pont clôturé le" in history.text
    assert "Accroché·e à un service compétent" in history.text


def test_referral_made_within_a_bridge(app, team, world):
    contact_id = _contact(team)
    bridge_id = _open(team, contact_id)
    referral_id = new_id()
    response = team.put(f"/referrals/{referral_id}", {
        "contact": contact_id, "organisation": world.cpas.id, "modality": "appel",
        "bridge": bridge_id})
    assert response.status_code == 201 and response.get_json()["bridge"] == bridge_id
    assert referral_id in team.client.get(f"/bridges/{bridge_id}").text
    other = _contact(team, code="NOT-THE-SAME")
    wrong = team.put(f"/referrals/{new_id()}", {
        "contact": other, "organisation": world.cpas.id, "modality": "appel",
        "bridge": bridge_id})
    assert wrong.status_code == 422 and "bridge" in wrong.get_json()["errors"]


def test_a_step_can_move_the_next_step_date(team):
    bridge_id = _open(team, _contact(team), next_step_due="2026-12-01")
    team.put(f"/bridges/{bridge_id}/steps/{new_id()}", {
        "occurred_on": "2026-11-20", "kind": "appel", "next_step_due": "2026-12-15"})
    assert team.get(f"/bridges/{bridge_id}").get_json()["next_step_due"] == "2026-12-15"
