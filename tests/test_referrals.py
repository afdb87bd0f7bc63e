"""Referrals: who sees them, how they move, and what a partner never sees."""

import io
import re
import uuid

import pytest
from sqlalchemy import func, select

from app.cli import create_user
from app.extensions import db
from app.models import Organisation, Referral, ReferralEvent, Role

from .conftest import PASSWORD, Api, csrf_from, login
from .helpers import contact_payload, new_id


@pytest.fixture
def team(app, world):
    return Api(app.test_client(), world.worker.key)


@pytest.fixture
def partner(app, world):
    return Api(app.test_client(), world.partner.key)


def _post_status(api, referral_id, **payload):
    return api.client.post(f"/api/v1/referrals/{referral_id}/status", json=payload,
                           headers={"X-CSRFToken": api.token})


def _refer(api, world, *, organisation=None, send=True, note="NOTE-SECRETE", code="AB-12",
           message="Personne attendue mardi matin", neighbourhood="colignon"):
    contact_id = new_id()
    assert api.put(f"/contacts/{contact_id}", contact_payload(
        note=note, person_code=code, neighbourhood=neighbourhood)).status_code == 201
    referral_id = new_id()
    response = api.put(f"/referrals/{referral_id}", {
        "contact": contact_id, "organisation": organisation or world.cpas.id,
        "modality": "rendez_vous", "message": message})
    assert response.status_code == 201, response.get_json()
    if send:
        assert _post_status(api, referral_id, status="sent").status_code == 200
    return contact_id, referral_id


def test_partner_sees_its_referral_and_nothing_of_the_contact(team, partner, world):
    contact_id, referral_id = _refer(team, world)
    body = partner.get(f"/referrals/{referral_id}").get_json()
    assert body["message"] == "Personne attendue mardi matin"
    assert body["status"] == "sent" and body["themes"] == ["expulsion", "logement"]
    assert body["worker"]["email"] == world.worker.key
    assert "contact" not in body
    text = partner.get(f"/referrals/{referral_id}").text + partner.get("/referrals").text
    for secret in ("NOTE-SECRETE", "AB-12", contact_id, "has_person_code", "note"):
        assert secret not in text
    page = partner.client.get(f"/referrals/{referral_id}").text
    assert "Personne attendue mardi matin" in page and "NOTE-SECRETE" not in page
    assert contact_id not in page


def test_partner_gets_404_for_contacts_and_other_organisations(app, team, partner, world):
    contact_id, _ = _refer(team, world)
    _, elsewhere = _refer(team, world, organisation=world.other_org.id)
    for path in (f"/contacts/{contact_id}", f"/contacts/{contact_id}/note",
                 f"/contacts/{contact_id}/edit", f"/contacts/{contact_id}/refer"):
        assert partner.client.get(path).status_code == 404
    assert partner.get(f"/contacts/{contact_id}").status_code == 404
    assert partner.get(f"/referrals/{elsewhere}").status_code == 404
    assert partner.client.get(f"/referrals/{elsewhere}").status_code == 404
    assert _post_status(partner, elsewhere, status="received").status_code == 404
    listed = partner.get("/referrals").get_json()["referrals"]
    assert [r["organisation"] for r in listed] == [world.cpas.id]


def test_a_proposed_referral_is_not_yet_the_partners(team, partner, world):
    _, referral_id = _refer(team, world, send=False)
    assert partner.get(f"/referrals/{referral_id}").status_code == 404
    assert partner.get("/referrals").get_json()["referrals"] == []
    _post_status(team, referral_id, status="sent")
    assert partner.get(f"/referrals/{referral_id}").status_code == 200


def test_message_is_for_the_partner_and_the_team_only(app, team, world):
    _, referral_id = _refer(team, world)
    colleague = Api(app.test_client(), world.colleague.key)  # same neighbourhood: team
    assert colleague.get(f"/referrals/{referral_id}").get_json()["message"]
    outsider = Api(app.test_client(), world.outsider.key)
    assert outsider.get(f"/referrals/{referral_id}").status_code == 404
    assert outsider.client.get(f"/referrals/{referral_id}").status_code == 404
    for role in ("coordinator", "admin"):
        other = Api(app.test_client(), world.user(role).key)
        assert other.get(f"/referrals/{referral_id}").status_code == 404
    with app.app_context():
        create_user("free@test.be", Role.PARTNER, PASSWORD, organisation="Free Clinic")
    other_partner = Api(app.test_client(), "free@test.be")
    assert other_partner.get(f"/referrals/{referral_id}").status_code == 404
    with app.app_context():
        stored = db.session.get(Referral, uuid.UUID(referral_id)).message
    assert stored.startswith("v1.") and "mardi" not in stored


def test_status_flow_with_history(app, team, partner, world):
    _, referral_id = _refer(team, world)
    assert _post_status(partner, referral_id, status="received",
                        reply="Rendez-vous fixé jeudi").status_code == 200
    closed = _post_status(partner, referral_id, status="closed", outcome="accroche")
    assert closed.status_code == 200
    body = team.get(f"/referrals/{referral_id}").get_json()
    assert body["status"] == "closed" and body["outcome"] == "accroche"
    assert body["reply"] == "Rendez-vous fixé jeudi"
    assert [(h["status"], h["by"]) for h in body["history"]] == [
        ("proposed", world.worker.id), ("sent", world.worker.id),
        ("received", world.partner.id), ("closed", world.partner.id)]
    assert all(h["at"] for h in body["history"])


@pytest.mark.parametrize("steps,last,field", [
    ([], {"status": "closed"}, "outcome"),                                # no outcome
    ([], {"status": "closed", "outcome": "astrologie"}, "outcome"),       # unknown outcome
    ([], {"status": "received", "outcome": "accroche"}, "outcome"),       # outcome too soon
    ([], {"status": "archived"}, "status"),                               # unknown status
    ([], {"status": "proposed"}, "status"),                               # going back
    ([{"status": "closed", "outcome": "accroche"}], {"status": "received"}, "status"),
    ([{"status": "closed", "outcome": "accroche"}],
     {"status": "closed", "outcome": "service_sature"}, "status"),         # re-closing
    ([], {"status": "sent", "colour": "red"}, "colour"),                  # unknown field
    ([], {"status": "received", "reply": "je réponds"}, "reply"),         # team never replies
])
def test_invalid_status_changes_are_422_and_change_nothing(app, team, world, steps, last,
                                                            field):
    _, referral_id = _refer(team, world)
    for step in steps:
        assert _post_status(team, referral_id, **step).status_code == 200
    before = team.get(f"/referrals/{referral_id}").get_json()
    response = _post_status(team, referral_id, **last)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert team.get(f"/referrals/{referral_id}").get_json() == before


def test_partner_may_only_acknowledge_or_close(team, partner, world):
    _, referral_id = _refer(team, world)
    response = _post_status(partner, referral_id, status="sent")
    assert response.status_code == 422 and "status" in response.get_json()["errors"]


def test_the_same_change_twice_is_one_change(app, team, world):
    _, referral_id = _refer(team, world)
    for _ in range(2):
        assert _post_status(team, referral_id, status="closed",
                            outcome="pas_presentee").status_code == 200
    with app.app_context():
        events = db.session.scalar(select(func.count()).select_from(ReferralEvent).where(
            ReferralEvent.referral_id == uuid.UUID(referral_id)))
    assert events == 3  # proposed, sent, closed


def test_put_referral_is_idempotent_and_frozen_once_sent(app, team, world):
    contact_id, referral_id = _refer(team, world, send=False)
    payload = {"contact": contact_id, "organisation": world.cpas.id, "modality": "rendez_vous",
               "message": "Personne attendue mardi matin"}
    assert team.edit(f"/referrals/{referral_id}", payload).status_code == 200
    corrected = {**payload, "modality": "appel"}
    assert team.edit(f"/referrals/{referral_id}", corrected).status_code == 200
    _post_status(team, referral_id, status="sent")
    assert team.put(f"/referrals/{referral_id}", corrected).status_code == 200  # same: fine
    changed = team.edit(f"/referrals/{referral_id}", {**corrected, "organisation":
                                                      world.other_org.id})
    assert changed.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Referral)) == 1
        assert db.session.get(Referral, uuid.UUID(referral_id)).organisation_id == world.cpas.id


@pytest.mark.parametrize("change,field", [
    ({"contact": None}, "contact"),
    ({"contact": "not-a-uuid"}, "contact"),
    ({"organisation": None}, "organisation"),
    ({"organisation": "CPAS"}, "organisation"),
    ({"organisation": 999999}, "organisation"),
    ({"modality": "pigeon"}, "modality"),
    ({"modality": None}, "modality"),
    ({"message": "x" * 2001}, "message"),
    ({"status": "closed"}, "status"),
])
def test_malformed_referral_is_422(app, team, world, change, field):
    contact_id = new_id()
    team.put(f"/contacts/{contact_id}", contact_payload())
    payload = {"contact": contact_id, "organisation": world.cpas.id, "modality": "appel"}
    payload.update(change)
    response = team.put(f"/referrals/{new_id()}", payload)
    assert response.status_code == 422 and field in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_referral_to_a_contact_of_another_neighbourhood_is_refused(app, world, team):
    outsider = Api(app.test_client(), world.outsider.key)
    contact_id = new_id()
    outsider.put(f"/contacts/{contact_id}", contact_payload(neighbourhood="marolles"))
    response = team.put(f"/referrals/{new_id()}", {
        "contact": contact_id, "organisation": world.cpas.id, "modality": "appel"})
    assert response.status_code == 422 and "contact" in response.get_json()["errors"]


def test_inactive_services_are_not_offered(app, team, world):
    with app.app_context():
        db.session.get(Organisation, world.other_org.id).active = False
        db.session.commit()
    contact_id = new_id()
    team.put(f"/contacts/{contact_id}", contact_payload())
    response = team.put(f"/referrals/{new_id()}", {
        "contact": contact_id, "organisation": world.other_org.id, "modality": "appel"})
    assert response.status_code == 422
    assert "Free Clinic" not in team.client.get(f"/contacts/{contact_id}/refer").text
    assert "Free Clinic" not in team.client.get("/directory").text
    assert team.client.get(f"/directory/{world.other_org.id}").status_code == 404


def test_directory_api_with_etag(team, world):
    response = team.get("/directory")
    names = [o["name"] for o in response.get_json()["organisations"]]
    assert names == ["CPAS de Schaerbeek", "Free Clinic"]
    assert team.get("/directory", headers={
        "If-None-Match": response.headers["ETag"]}).status_code == 304


def test_directory_search(client, world):
    login(client, world.coordinator.key)
    assert "Free Clinic" in client.get("/directory").text
    filtered = client.get("/directory?q=cpas").text
    assert "CPAS de Schaerbeek" in filtered and "Free Clinic" not in filtered
    assert "Free Clinic" not in client.get("/directory?category=aide_sociale").text
    assert "CPAS de Schaerbeek" not in client.get("/directory?commune=Ixelles").text


def test_the_demo_story_on_pages(app, world):
    """A worker refers a contact, the partner acknowledges and records "taken up", the worker
    sees it: through the pages, as people would."""
    worker = app.test_client()
    login(worker, world.worker.key)
    token = worker.get("/api/v1/me").get_json()["csrf_token"]
    contact_id = new_id()
    worker.put(f"/api/v1/contacts/{contact_id}", json=contact_payload(note="NOTE-SECRETE"),
               headers={"X-CSRFToken": token})
    page = worker.get(f"/contacts/{contact_id}")
    assert "Orienter vers un service" in page.text
    form = worker.get(f"/contacts/{contact_id}/refer")
    assert "CPAS de Schaerbeek" in form.text
    missing = worker.post(f"/contacts/{contact_id}/refer", data={
        "csrf_token": csrf_from(form.text), "message": "garder ce texte", "send": "1"})
    assert missing.status_code == 422 and "Choisissez un service." in missing.text
    assert "garder ce texte" in missing.text
    done = worker.post(f"/contacts/{contact_id}/refer", data={
        "csrf_token": csrf_from(form.text), "organisation": str(world.cpas.id),
        "modality": "rendez_vous", "message": "RDV jeudi 10h", "send": "1"})
    assert done.status_code == 302
    assert "Envoyée au service" in worker.get(f"/contacts/{contact_id}").text
    assert "CPAS de Schaerbeek" in worker.get("/referrals").text

    partner = app.test_client()
    login(partner, world.partner.key)
    home = partner.get("/partner")
    assert re.search(r"<strong>1</strong>\s*nouvelle orientation", home.text)
    referral_link = re.search(r'href="(/referrals/[0-9a-f-]{36})"', home.text).group(1)
    detail = partner.get(referral_link)
    assert "RDV jeudi 10h" in detail.text and "NOTE-SECRETE" not in detail.text
    ack = partner.post(f"{referral_link}/status", data={
        "csrf_token": csrf_from(detail.text), "status": "received"})
    assert ack.status_code == 302
    refused = partner.post(f"{referral_link}/status", data={
        "csrf_token": csrf_from(detail.text), "status": "closed"})
    assert refused.status_code == 422
    assert "Indiquez l&#39;issue" in refused.text or "Indiquez l'issue" in refused.text
    closed = partner.post(f"{referral_link}/status", data={
        "csrf_token": csrf_from(detail.text), "status": "closed", "outcome": "accroche",
        "reply": "Bien venue, suivie par Mme AS"})
    assert closed.status_code == 302
    assert re.search(r"<strong>0</strong>", partner.get("/partner").text)

    contact_page = worker.get(f"/contacts/{contact_id}").text
    assert "Personne accrochée au service" in contact_page
    referral_page = worker.get(referral_link).text
    assert "Bien venue, suivie par Mme AS" in referral_page
    assert "Clôturée" in worker.get("/referrals?show=closed").text


def test_worker_closes_when_the_partner_has_no_account(app, team, world):
    _, referral_id = _refer(team, world, organisation=world.other_org.id)
    page = team.client.get(f"/referrals/{referral_id}")
    response = team.client.post(f"/referrals/{referral_id}/status", data={
        "csrf_token": csrf_from(page.text), "status": "closed", "outcome": "service_sature"})
    assert response.status_code == 302
    assert team.get(f"/referrals/{referral_id}").get_json()["outcome"] == "service_sature"


# -- administration of the directory ---------------------------------------------------------
@pytest.fixture
def admin(app, world):
    client = app.test_client()
    login(client, world.admin.key)
    return client


def test_admin_adds_edits_and_deactivates_a_service(app, admin, world):
    form = admin.get("/admin/directory/new")
    response = admin.post("/admin/directory/new", data={
        "csrf_token": csrf_from(form.text), "name": "Maison Médicale Test",
        "category": "sante", "commune": "Schaerbeek", "phone": "02 123 45 67",
        "email": "accueil@mm-test.be", "website": "https://mm-test.be", "active": "y"})
    assert response.status_code == 302
    with app.app_context():
        org = db.session.scalar(select(Organisation).where(
            Organisation.name == "Maison Médicale Test"))
        org_id = org.id
    duplicate = admin.post("/admin/directory/new", data={
        "csrf_token": csrf_from(form.text), "name": "maison médicale test"})
    assert duplicate.status_code == 422 and "Un service porte déjà ce nom." in duplicate.text
    bad = admin.post(f"/admin/directory/{org_id}/edit", data={
        "csrf_token": csrf_from(form.text), "name": "Maison Médicale Test",
        "email": "pas-une-adresse", "website": "mm-test.be"})
    assert bad.status_code == 422
    assert "Adresse e-mail non valide." in bad.text and "https://" in bad.text
    off = admin.post(f"/admin/directory/{org_id}/edit", data={
        "csrf_token": csrf_from(form.text), "name": "Maison Médicale Test",
        "category": "sante"})  # "active" unchecked: deactivated
    assert off.status_code == 302
    with app.app_context():
        assert db.session.get(Organisation, org_id).active is False
    assert "Inactif" in admin.get("/admin/directory").text


def test_admin_imports_a_csv_with_a_report(app, admin, world):
    page = admin.get("/admin/directory")
    csv_bytes = (b"name,category,commune,note\n"
                 b"Service Nouveau,sante,Schaerbeek,ok\n"
                 b"Service Bancal,sante\n"
                 b",sante,Ixelles,\n"
                 b"Service Inconnu,astrologie,Ixelles,\n")
    response = admin.post("/admin/directory/import", data={
        "csrf_token": csrf_from(page.text), "file": (io.BytesIO(csv_bytes), "services.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    assert "1 ajoutés, 0 mis à jour, 3 refusés" in response.text
    assert "ligne 3" in response.text and "ligne 4" in response.text
    with app.app_context():
        names = set(db.session.scalars(select(Organisation.name)))
    assert "Service Nouveau" in names and "Service Bancal" not in names


def test_a_file_that_is_not_a_directory_imports_nothing(app, admin, world):
    page = admin.get("/admin/directory")
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Organisation))
    for content in (b"nom;commune\nX;Y\n", b"\xff\xfe\x00garbage"):
        response = admin.post("/admin/directory/import", data={
            "csrf_token": csrf_from(page.text), "file": (io.BytesIO(content), "x.csv")},
            content_type="multipart/form-data")
        assert response.status_code == 422
        assert "rien n&#39;a été importé" in response.text or "rien n'a été importé" in \
            response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == before


def test_service_page_shows_what_became_of_the_teams_referrals(app, team, world):
    for outcome in ("service_sature", "service_sature", "accroche"):
        _, referral_id = _refer(team, world)
        _post_status(team, referral_id, status="closed", outcome=outcome)
    _refer(team, world)  # still waiting
    outsider = Api(app.test_client(), world.outsider.key)
    _refer(outsider, world, neighbourhood="marolles")  # not the team's: not counted
    page = team.client.get(f"/directory/{world.cpas.id}").text
    tally = re.sub(r"\s+", " ", page)
    assert "<strong>4</strong> orientations" in tally
    assert "<strong>1</strong> en attente" in tally
    assert "<strong>2</strong> Service saturé / liste d&#39;attente" in tally
    assert "<strong>1</strong> Personne accrochée au service" in tally


def test_put_with_send_creates_it_sent_in_one_request(team, partner, world):
    contact_id = new_id()
    team.put(f"/contacts/{contact_id}", contact_payload())
    referral_id = new_id()
    payload = {"contact": contact_id, "organisation": world.cpas.id, "modality": "appel",
               "send": True}
    assert team.put(f"/referrals/{referral_id}", payload).status_code == 201
    assert team.put(f"/referrals/{referral_id}", payload).status_code == 200  # a retry
    body = partner.get(f"/referrals/{referral_id}").get_json()
    assert body["status"] == "sent" and len(body["history"]) == 2
    bad = team.put(f"/referrals/{new_id()}", {**payload, "send": "yes"})
    assert bad.status_code == 422 and "send" in bad.get_json()["errors"]
