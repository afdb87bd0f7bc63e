"""The rights of the person met (issue 14, GDPR articles 15 and 17): what the worker's
neighbourhoods keep linked to a person code, printed for the person, and forgotten on request;
never another team's records, never the code in an address, a header or the audit trail, and
the figures do not move."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from app import crypto
from app.extensions import db
from app.models import AuditEvent, BridgeStep, Contact, RecordVersion, Referral

from .conftest import Api, csrf_from, login
from .helpers import assert_gone_from_the_files, contact_payload, figures, new_id

CODE = "LUNE-42"
CANARY = "CANARY-NOTE-7f3a"


def _post_json(api: Api, path: str, payload) -> object:
    return api.client.post(f"/api/v1{path}", json=payload,
                           headers={"X-CSRFToken": api.token})


def _person(app, world, api: Api, neighbourhood: str, secret: str) -> dict:
    """A person's records in `neighbourhood`, each with free text and an earlier version:
    two contacts with the code and a note, a referral (message, partner's reply) and a bridge
    with a step note. Returns their ids."""
    contacts = []
    for _ in range(2):
        contact = new_id()
        payload = contact_payload(neighbourhood=neighbourhood, person_code=CODE,
                                  note=f"{secret} note")
        assert api.put(f"/contacts/{contact}", payload).status_code == 201
        assert api.edit(f"/contacts/{contact}",
                        {**payload, "note": f"{secret} note bis"}).status_code == 200
        contacts.append(contact)
    referral = new_id()
    referral_payload = {"contact": contacts[0], "organisation": world.cpas.id,
                        "modality": "appel", "message": f"{secret} message"}
    assert api.put(f"/referrals/{referral}", referral_payload).status_code == 201
    assert api.edit(f"/referrals/{referral}", {
        **referral_payload, "message": f"{secret} message bis"}).status_code == 200
    assert _post_json(api, f"/referrals/{referral}/status",
                      {"status": "sent"}).status_code == 200
    bridge, step = new_id(), new_id()
    assert api.put(f"/bridges/{bridge}", {"contact": contacts[1]}).status_code == 201
    step_payload = {"occurred_on": date.today().isoformat(), "kind": "rencontre",
                    "note": f"{secret} step"}
    assert api.put(f"/bridges/{bridge}/steps/{step}", step_payload).status_code == 201
    assert api.edit(f"/bridges/{bridge}/steps/{step}",
                    {**step_payload, "note": f"{secret} step bis"}).status_code == 200
    return {"contacts": contacts, "referral": referral, "bridge": bridge, "step": step}


@pytest.fixture
def people(app, world):
    """The same person met in Colignon (by the worker) and in Marolles (by the outsider);
    the CPAS replied to the Colignon referral."""
    worker = Api(app.test_client(), world.worker.key)
    own = _person(app, world, worker, "colignon", "SECRET-COLIGNON")
    partner = Api(app.test_client(), world.partner.key)
    assert _post_json(partner, f"/referrals/{own['referral']}/status", {
        "status": "received", "reply": "SECRET-COLIGNON reply"}).status_code == 200
    outsider = Api(app.test_client(), world.outsider.key)
    foreign = _person(app, world, outsider, "marolles", "SECRET-MAROLLES")
    return {"own": own, "foreign": foreign}


def _free_text(app, ids: dict) -> dict:
    """Every free text of the records named, in the record and in its kept versions, and the
    codes they carry."""
    with app.app_context():
        contacts = [db.session.get(Contact, uuid.UUID(c)) for c in ids["contacts"]]
        referral = db.session.get(Referral, uuid.UUID(ids["referral"]))
        step = db.session.get(BridgeStep, uuid.UUID(ids["step"]))
        record_ids = [*ids["contacts"], ids["referral"], ids["step"]]
        versions = db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_id.in_(record_ids))).all()
        found = {
            "notes": [c.note for c in contacts if c.note is not None],
            "messages": [referral.message] if referral.message else [],
            "replies": [referral.reply] if referral.reply else [],
            "step_notes": [step.note] if step.note else [],
            "history": [v.fields.get(name) for v in versions
                        for name in ("note", "message", "reply")
                        if v.fields.get(name) is not None],
            "codes": {c.person_code_hash for c in contacts} | {step.bridge.person_code_hash},
            "history_codes": {v.fields.get("person_code") for v in versions
                              if v.record_type == "contact"},
        }
        db.session.remove()
        return found


def _lookup_page(client, code=CODE):
    form = client.get("/people")
    assert form.status_code == 200
    return client.post("/people", data={"person_code": code, "csrf_token": csrf_from(form.text)})


def _forget_page(client, code=CODE, requested=True):
    kept = _lookup_page(client, code)
    token = csrf_from(kept.text)
    confirm = client.post("/people/forget", data={"person_code": code, "csrf_token": token})
    if confirm.status_code != 200:
        return confirm
    data = {"person_code": code, "csrf_token": token, "stage": "confirm"}
    if requested:
        data["requested"] = "yes"
    return client.post("/people/forget", data=data)


# -- what is kept (art. 15) -------------------------------------------------------------------
def test_the_page_asks_the_code_in_a_form_that_posts(client, world):
    login(client, world.worker.key)
    page = client.get("/people")
    assert page.status_code == 200
    form = re.search(r'<form method="post" action="/people"[^>]*>(.*?)</form>', page.text, re.S)
    assert form and 'name="person_code"' in form.group(1)
    assert 'autocomplete="off"' in form.group(1)
    assert page.headers["Cache-Control"] == "no-store"
    assert "/people" not in client.application.config["OFFLINE_PAGES"]
    assert 'href="/people"' in client.get("/today").text  # the field worker's footer


def test_lookup_shows_only_the_workers_neighbourhoods(client, world, people):
    login(client, world.worker.key)
    page = _lookup_page(client)
    assert page.status_code == 200
    text = page.text
    assert "Ce que nous gardons sur cette personne" in text
    assert "Colignon" in text and "Marolles" not in text
    assert "CPAS de Schaerbeek" in text  # the service of the referral
    assert text.count("Une note (chiffrée)") == 2
    assert "SECRET" not in text  # notes are never opened here
    for key in ("own", "foreign"):  # no internal id of any record
        ids = people[key]
        for record_id in [*ids["contacts"], ids["referral"], ids["bridge"], ids["step"]]:
            assert record_id not in text
    assert "Amina" not in text.split("<main", 1)[1].split("</main>", 1)[0]  # no worker's name
    assert 'data-print' in text and "people/static/print.js" in text
    with client.application.app_context():
        assert crypto.person_code_hash(CODE) not in text
    # The code appears once: in the hidden field of the "forget" form, not shown.
    assert text.count(CODE) == 1 and f'type="hidden" name="person_code" value="{CODE}"' in text


def test_lookup_of_an_unknown_code_says_so(client, world, people):
    login(client, world.worker.key)
    page = _lookup_page(client, "PERSONNE-0")
    assert page.status_code == 200
    assert "Nous ne gardons rien lié à ce code dans vos quartiers." in page.text


@pytest.mark.parametrize("code", ["", "   ", "---", "x" * 65])
def test_lookup_of_no_code_asks_again(client, world, code):
    login(client, world.worker.key)
    page = _lookup_page(client, code)
    assert page.status_code == 422
    assert 'class="field-error"' in page.text


def test_api_lookup_answers_counts_and_no_free_text(world, worker_api, people):
    answer = _post_json(worker_api, "/people/lookup", {"person_code": CODE})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["counts"] == {"contacts": 2, "referrals": 1, "bridges": 1, "notes": 2,
                              "messages": 1, "replies": 1, "step_notes": 1}
    assert {c["neighbourhood"] for c in body["contacts"]} == {"colignon"}
    dumped = json.dumps(body)
    assert "SECRET" not in dumped and CODE not in dumped
    for ids in people.values():
        for record_id in [*ids["contacts"], ids["referral"], ids["bridge"], ids["step"]]:
            assert record_id not in dumped


# -- forgetting (art. 17) ---------------------------------------------------------------------
def test_forget_erases_the_person_in_scope_only(app, client, world, people, caplog):
    caplog.set_level(logging.DEBUG)
    before = figures(app, world)
    own_before = _free_text(app, people["own"])
    foreign_before = _free_text(app, people["foreign"])
    assert all(own_before[k] for k in ("notes", "messages", "replies", "step_notes", "history"))
    with app.app_context():
        code_hash = crypto.person_code_hash(CODE)
    assert own_before["codes"] == {code_hash} == foreign_before["codes"]

    login(client, world.worker.key)
    done = _forget_page(client)
    assert done.status_code == 200, done.text
    assert "Cette personne est oubliée dans vos quartiers" in done.text
    assert "les chiffres de l&#39;évaluation ne changent pas" in done.text \
        or "les chiffres de l'évaluation ne changent pas" in done.text

    own = _free_text(app, people["own"])
    assert own["notes"] == own["messages"] == own["replies"] == own["step_notes"] == []
    assert own["history"] == []
    assert code_hash not in own["codes"] | own["history_codes"]
    assert len(own["codes"]) == 1  # one pseudonym for the person's records
    # Marolles is another team's: its notes and code are untouched.
    assert _free_text(app, people["foreign"]) == foreign_before
    # Nothing found any more, by the worker or by their colleague of Colignon.
    assert "Nous ne gardons rien" in _lookup_page(client).text
    colleague = Api(app.test_client(), world.colleague.key)
    history = _post_json(colleague, "/person-codes/history", {"person_code": CODE}).get_json()
    assert history["contact_count"] == 0 and not history["bridges"] and not history["referrals"]
    # The figures are the same.
    assert figures(app, world) == before
    assert all(CODE not in record.getMessage() for record in caplog.records)


def test_forget_needs_the_persons_request(app, client, world, people):
    before = _free_text(app, people["own"])
    login(client, world.worker.key)
    refused = _forget_page(client, requested=False)
    assert refused.status_code == 422
    assert "Cochez la case" in refused.text
    assert 'class="field-error"' in refused.text
    assert _free_text(app, people["own"]) == before


def test_the_confirmation_says_what_will_be_erased(client, world, people):
    login(client, world.worker.key)
    kept = _lookup_page(client)
    confirm = client.post("/people/forget", data={"person_code": CODE,
                                                  "csrf_token": csrf_from(kept.text)})
    assert confirm.status_code == 200
    assert "2 notes de contact" in confirm.text and "1 message à un service" in confirm.text
    assert 'name="requested"' in confirm.text and 'name="stage" value="confirm"' in confirm.text


def test_forget_of_a_code_only_known_elsewhere_is_404(app, client, world, people):
    login(client, world.colleague.key)  # Colignon only: nothing there once forgotten…
    token = csrf_from(client.get("/people").text)
    answer = client.post("/people/forget", data={"person_code": "PERSONNE-0",
                                                 "csrf_token": token, "stage": "confirm",
                                                 "requested": "yes"})
    assert answer.status_code == 404


def test_api_forget(app, world, worker_api, people):
    before = figures(app, world)
    foreign_before = _free_text(app, people["foreign"])
    answer = _post_json(worker_api, "/people/forget", {"person_code": f"  {CODE.lower()} "})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["erased"]["notes"] == 2 and body["erased"]["messages"] == 1
    assert body["erased"]["replies"] == 1 and body["erased"]["step_notes"] == 1
    assert body["erased"]["earlier_versions"] >= 4
    assert body["unlinked"] == {"contacts": 2, "bridges": 1}
    assert _free_text(app, people["own"])["notes"] == []
    assert _free_text(app, people["foreign"]) == foreign_before
    assert figures(app, world) == before
    # Forgotten: for this worker the code is linked to nothing any more.
    assert _post_json(worker_api, "/people/lookup", {"person_code": CODE}).status_code == 404
    assert _post_json(worker_api, "/people/forget", {"person_code": CODE}).status_code == 404


def test_audit_holds_counts_never_the_code(app, client, world, worker_api, people):
    assert _post_json(worker_api, "/people/lookup", {"person_code": CODE}).status_code == 200
    assert _post_json(worker_api, "/people/forget", {"person_code": CODE}).status_code == 200
    with app.app_context():
        code_hash = crypto.person_code_hash(CODE)
        pseudonym = db.session.get(Contact, uuid.UUID(people["own"]["contacts"][0])) \
            .person_code_hash
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.in_(
            ("person_looked_up", "person_forgotten")))).all()
        assert sorted(e.action for e in events) == ["person_forgotten", "person_looked_up"]
        for event in events:
            dumped = json.dumps(event.detail) + repr(event.object_id) + repr(event.object_type)
            for secret in (CODE, CODE.lower(), code_hash, pseudonym,
                           *people["own"]["contacts"], people["own"]["referral"],
                           people["own"]["bridge"], people["own"]["step"]):
                assert secret not in dumped
            assert event.object_id is None
            assert all(isinstance(v, int) for k, v in event.detail.items() if k != "via")
        forgotten = next(e for e in events if e.action == "person_forgotten")
        assert forgotten.detail["notes"] == 2 and forgotten.user_id == world.worker.id


def test_the_code_is_never_in_an_address_or_a_header(app, world, people):
    client = app.test_client()
    login(client, world.worker.key)
    answers = []
    kept = _lookup_page(client)
    answers.append(kept)
    token = csrf_from(kept.text)
    answers.append(client.post("/people/forget", data={"person_code": CODE,
                                                       "csrf_token": token}))
    answers.append(client.post("/people/forget", data={
        "person_code": CODE, "csrf_token": token, "stage": "confirm", "requested": "yes"}))
    api = Api(app.test_client(), world.worker.key)
    answers.append(_post_json(api, "/people/lookup", {"person_code": CODE}))
    answers.append(_post_json(api, "/people/forget", {"person_code": CODE}))
    for answer in answers:
        assert CODE not in answer.request.url and CODE.lower() not in answer.request.url
        assert answer.headers.get("Cache-Control") == "no-store"
        for name, value in answer.headers.items():
            assert CODE not in value and CODE.lower() not in value, name
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 404]


def test_forgotten_text_leaves_the_database_files(app, world, worker_api, people):
    sealed = _free_text(app, people["own"])
    canaries = [*sealed["notes"], *sealed["messages"], *sealed["replies"],
                *sealed["step_notes"], *sealed["history"]]

    def erase():
        assert _post_json(worker_api, "/people/forget",
                          {"person_code": CODE}).status_code == 200

    assert_gone_from_the_files(app, canaries, erase)


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/people/lookup", "/people/forget"])
def test_api_refusals(app, client, world, api_as, people, path):
    anonymous = app.test_client()
    token = csrf_from(anonymous.get("/login").text)
    assert anonymous.post(f"/api/v1{path}", json={"person_code": CODE},
                          headers={"X-CSRFToken": token}).status_code == 401
    for role in ("coordinator", "partner", "admin"):
        other = Api(app.test_client(), world.user(role).key)
        assert _post_json(other, path, {"person_code": CODE}).status_code == 403
    worker = Api(app.test_client(), world.worker.key)
    for payload in ({}, {"person_code": ""}, {"person_code": "   "}, {"person_code": None},
                    {"person_code": 42}, {"person_code": "--"}, {"person_code": "x" * 65},
                    {"person_code": CODE, "other": 1}):
        answer = _post_json(worker, path, payload)
        assert answer.status_code == 422, payload
        assert answer.get_json()["errors"], payload
    missing = _post_json(worker, path, {}).get_json()
    assert missing["errors"]["person_code"]
    assert _post_json(worker, path, {"person_code": "PERSONNE-0"}).status_code == 404
    # A code the worker's neighbourhoods do not know, only Marolles: 404, untouched there.
    outsider = Api(app.test_client(), world.outsider.key)
    only_there = new_id()
    assert outsider.put(f"/contacts/{only_there}", contact_payload(
        neighbourhood="marolles", person_code="MAR-ONLY", note="kept")).status_code == 201
    assert _post_json(worker, path, {"person_code": "MAR-ONLY"}).status_code == 404
    with app.app_context():
        contact = db.session.get(Contact, uuid.UUID(only_there))
        assert contact.note is not None
        assert contact.person_code_hash == crypto.person_code_hash("MAR-ONLY")
    # Without the CSRF header: refused like every API write.
    assert worker.client.post(f"/api/v1{path}", json={"person_code": CODE}).status_code == 400


def test_other_roles_get_no_page(app, world):
    for role in ("coordinator", "partner", "admin"):
        client = app.test_client()
        login(client, world.user(role).key)
        assert client.get("/people").status_code == 403
        token = csrf_from(client.get("/logout").text)
        for path in ("/people", "/people/forget"):
            assert client.post(path, data={"person_code": CODE,
                                           "csrf_token": token}).status_code == 403
    assert app.test_client().get("/people").status_code == 302
