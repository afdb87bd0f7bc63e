"""Every decryption for a person leaves an audit event; nothing sealed is stored in clear; no
answer tells whether a guess of a stored text is right without leaving that trace.

DESIGN §3 (encrypted fields, audit) and docs/decisions.md ("Every decryption is audited",
"No oracle on stored text").
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from app import crypto
from app.extensions import db
from app.models import AuditEvent, BridgeStep, Referral

from .conftest import Api, csrf_from
from .helpers import contact_payload, new_id

NOTE = "NOTE-CONTACT-7f3"
STEP_NOTE = "NOTE-ETAPE-91c"
MESSAGE = "MESSAGE-ORIENTATION-2b8"
REPLY = "REPONSE-SERVICE-5d0"
SECRETS = (NOTE, STEP_NOTE, MESSAGE, REPLY)


def reads(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "note_read"))


def last_read(app) -> AuditEvent:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "note_read")
                                  .order_by(AuditEvent.id.desc()).limit(1)).one()


def _status(api, referral_id, **payload):
    return api.client.post(f"/api/v1/referrals/{referral_id}/status", json=payload,
                           headers={"X-CSRFToken": api.token})


@dataclass
class Story:
    contact: str
    referral: str
    bridge: str
    step: str


@pytest.fixture
def story(app, world) -> Story:
    """A contact with a note, a referral with a message and the partner's reply, a bridge
    with a step note: every kind of sealed free text, written through the API."""
    team = Api(app.test_client(), world.worker.key)
    contact_id = new_id()
    assert team.put(f"/contacts/{contact_id}", contact_payload(
        note=NOTE, person_code="ZAH-58")).status_code == 201
    referral_id = new_id()
    assert team.put(f"/referrals/{referral_id}", {
        "contact": contact_id, "organisation": world.cpas.id, "modality": "rendez_vous",
        "message": MESSAGE, "send": True}).status_code == 201
    partner = Api(app.test_client(), world.partner.key)
    assert _status(partner, referral_id, status="received", reply=REPLY).status_code == 200
    bridge_id, step_id = new_id(), new_id()
    assert team.put(f"/bridges/{bridge_id}", {"contact": contact_id}).status_code == 201
    assert team.put(f"/bridges/{bridge_id}/steps/{step_id}", {
        "occurred_on": "2026-11-20", "kind": "appel", "note": STEP_NOTE}).status_code == 201
    return Story(contact_id, referral_id, bridge_id, step_id)


# -- every read path: how many audit events it leaves, and what it shows ---------------------
# (who, path, audit events it must leave, the texts it shows; any other secret must be absent)
READS = [
    # contact notes
    ("worker", "/api/v1/contacts/{contact}", 1, [NOTE]),
    ("worker", "/contacts/{contact}/note", 1, [NOTE]),
    ("worker", "/contacts/{contact}/edit", 1, [NOTE]),
    ("worker", "/contacts/{contact}", 0, []),
    ("worker", "/contacts", 0, []),
    # bridge step notes
    ("worker", "/api/v1/bridges/{bridge}", 1, [STEP_NOTE]),
    ("worker", "/api/v1/bridges/{bridge}/steps/{step}", 1, [STEP_NOTE]),
    ("worker", "/bridges/{bridge}/notes", 1, [STEP_NOTE]),
    ("worker", "/bridges/{bridge}", 0, []),
    ("worker", "/api/v1/bridges", 0, []),
    ("worker", "/bridges", 0, []),
    # referral messages and partner replies: the record itself shows them, lists do not
    ("worker", "/api/v1/referrals/{referral}", 1, [MESSAGE, REPLY]),
    ("partner", "/api/v1/referrals/{referral}", 1, [MESSAGE, REPLY]),
    ("worker", "/referrals/{referral}", 1, [MESSAGE, REPLY]),
    ("partner", "/referrals/{referral}", 1, [MESSAGE, REPLY]),
    ("worker", "/api/v1/referrals", 0, []),
    ("partner", "/api/v1/referrals", 0, []),
    ("worker", "/referrals", 0, []),
    ("worker", "/referrals?show=open&team=1", 0, []),
    ("partner", "/partner", 0, []),
    ("worker", "/api/v1/person-codes/history", 0, []),
]


@pytest.mark.parametrize("who,path,events,shown", READS,
                         ids=[f"{r[0]}:{r[1]}" for r in READS])
def test_each_read_path_audits_exactly_what_it_decrypts(app, world, story, who, path,
                                                        events, shown):
    api = Api(app.test_client(), world.user("partner" if who == "partner" else
                                            "field_worker").key)
    url = path.format(**vars(story))
    before = reads(app)
    if url == "/api/v1/person-codes/history":
        response = api.client.post(url, json={"person_code": "ZAH-58"},
                                   headers={"X-CSRFToken": api.token})
    else:
        response = api.client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert reads(app) - before == events, url
    for text in SECRETS:
        assert (text in response.text) == (text in shown), (url, text)
    if events:
        event = last_read(app)
        assert event.user_id == api_user_id(world, who)
        assert event.object_id in (story.contact, story.referral, story.bridge)
        assert event.neighbourhood_id == world.colignon.id


def api_user_id(world, who: str) -> int:
    return world.partner.id if who == "partner" else world.worker.id


def test_lists_say_whether_there_is_a_message_or_a_reply(app, world, story):
    for who in ("field_worker", "partner"):
        api = Api(app.test_client(), world.user(who).key)
        listed = api.get("/referrals").get_json()["referrals"]
        assert [(r["has_message"], r["has_reply"]) for r in listed] == [(True, True)]
        assert "message" not in listed[0] and "reply" not in listed[0]
    page = Api(app.test_client(), world.partner.key).client.get("/partner").text
    assert "Message" in page and "Réponse" in page


def test_write_answers_do_not_decrypt(app, world, story):
    """A status change or a PUT answers with the referral, without its texts (and so without
    an unaudited reading)."""
    partner = Api(app.test_client(), world.partner.key)
    before = reads(app)
    closed = _status(partner, story.referral, status="closed", outcome="accroche")
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["has_message"] and "message" not in body and MESSAGE not in closed.text
    assert reads(app) == before


def test_the_audit_count_grows_with_every_decrypted_message(app, world, story):
    partner = Api(app.test_client(), world.partner.key)
    before = reads(app)
    for n in range(1, 4):
        assert partner.get(f"/referrals/{story.referral}").get_json()["message"] == MESSAGE
        assert reads(app) == before + n
    event = last_read(app)
    assert event.object_type == "referral" and event.detail["fields"] == ["message", "reply"]


def test_a_conflict_that_shows_a_note_is_audited(app, world, story):
    """A 409 body carries the current (decrypted) note: that is a reading."""
    team = Api(app.test_client(), world.worker.key)
    seen = team.get(f"/contacts/{story.contact}")
    version = seen.headers["ETag"]
    assert team.put(f"/contacts/{story.contact}", contact_payload(note="A"),
                    headers={"If-Match": version}).status_code == 200
    before = reads(app)
    stale = team.put(f"/contacts/{story.contact}", contact_payload(note="B"),
                     headers={"If-Match": version})
    assert stale.status_code == 409
    assert stale.get_json()["current"]["note"] == "A"
    assert reads(app) == before + 1


# -- every sealed column is sealed, whatever wrote it ------------------------------------------
def _raw(app, table: str, *columns: str, row_id=None) -> list:
    """Columns read as stored, with SQL: no model method in between."""
    query = sa.select(*map(sa.column, columns)).select_from(sa.table(table))
    if row_id is not None:
        query = query.where(sa.column("id", sa.Uuid) == uuid.UUID(str(row_id)))
    with app.app_context():
        return [tuple(row) for row in db.session.execute(query)]


def _assert_sealed(app, table: str, column: str, row_id, plaintext: str) -> None:
    token = _raw(app, table, column, row_id=row_id)[0][0]
    assert token is not None and token.startswith("v1."), (table, column, token)
    assert plaintext not in token
    with app.app_context():  # bound to its own cell: it opens there, and only there
        assert crypto.unseal(table, column, row_id, token) == plaintext
        with pytest.raises(crypto.DecryptionError):
            crypto.unseal(table, column, uuid.uuid4(), token)


def _form(client, page: str) -> str:
    return csrf_from(client.get(page).text)


def test_every_sealed_column_is_sealed_whatever_wrote_it(app, world, story):
    # Written through the API (the story) ...
    _assert_sealed(app, "contact", "note", story.contact, NOTE)
    _assert_sealed(app, "referral", "message", story.referral, MESSAGE)
    _assert_sealed(app, "referral", "reply", story.referral, REPLY)
    _assert_sealed(app, "bridge_step", "note", story.step, STEP_NOTE)

    # ... and through the web forms: a contact, a step, a referral, a partner's reply.
    worker = Api(app.test_client(), world.worker.key).client
    form = worker.get("/contacts/new").text
    occurred = re.search(r'name="occurred_at" type="datetime-local" value="([^"]+)"',
                         form).group(1)
    assert worker.post("/contacts/new", data={
        "csrf_token": csrf_from(form), "neighbourhood": "colignon", "occurred_at": occurred,
        "people_count": "1", "person_code": "ZAH-58", "note": "FORM-NOTE",
        "then": "done"}).status_code == 302
    with app.app_context():
        from app.models import Contact

        form_contact = db.session.scalar(select(Contact.id).where(
            Contact.id != uuid.UUID(story.contact)))
    _assert_sealed(app, "contact", "note", form_contact, "FORM-NOTE")

    step_id = new_id()
    assert worker.post(f"/bridges/{story.bridge}/steps", data={
        "csrf_token": _form(worker, f"/bridges/{story.bridge}"), "step_id": step_id,
        "occurred_on": "2026-11-21", "kind": "appel", "note": "FORM-STEP"}).status_code == 302
    _assert_sealed(app, "bridge_step", "note", step_id, "FORM-STEP")

    assert worker.post(f"/contacts/{form_contact}/refer", data={
        "csrf_token": _form(worker, f"/contacts/{form_contact}/refer"),
        "organisation": str(world.cpas.id), "modality": "rendez_vous",
        "message": "FORM-MESSAGE", "send": "1"}).status_code == 302
    with app.app_context():
        form_referral = db.session.scalar(select(Referral.id).where(
            Referral.contact_id == form_contact))
    _assert_sealed(app, "referral", "message", form_referral, "FORM-MESSAGE")

    partner = Api(app.test_client(), world.partner.key).client
    assert partner.post(f"/referrals/{form_referral}/status", data={
        "csrf_token": _form(partner, f"/referrals/{form_referral}"), "status": "received",
        "reply": "FORM-REPLY"}).status_code == 302
    _assert_sealed(app, "referral", "reply", form_referral, "FORM-REPLY")

    # Digests beside the step notes and the messages, wherever they were written.
    for table, column in (("bridge_step", "note_digest"), ("referral", "message_digest")):
        digests = [row[0] for row in _raw(app, table, column)]
        assert digests and all(re.fullmatch(r"[0-9a-f]{64}", d or "") for d in digests)

    # The history keeps every version's free text sealed too (record_version).
    team = Api(app.test_client(), world.worker.key)
    assert team.edit(f"/contacts/{story.contact}",
                     contact_payload(note="HISTORY-NOTE")).status_code == 200
    rows = _raw(app, "record_version", "record_type", "fields")
    kept = [json.loads(f) if isinstance(f, str) else f for kind, f in rows if kind == "contact"]
    assert len(kept) == 2
    for fields in kept:
        assert fields["note"].startswith("v1.")
    text = json.dumps([f for _, f in rows], default=str)
    for plain in (*SECRETS, "HISTORY-NOTE", "FORM-NOTE", "FORM-STEP", "FORM-MESSAGE",
                  "FORM-REPLY"):
        assert plain not in text


# -- no oracle on stored text -----------------------------------------------------------------
@pytest.fixture
def unseals(monkeypatch):
    """Counts every decryption of a stored value."""
    calls = []
    original = crypto.KeyRing.decrypt

    def counting(self, token, aad):
        calls.append(aad)
        return original(self, token, aad)

    monkeypatch.setattr(crypto.KeyRing, "decrypt", counting)
    return calls


def _closed_story(app, world, story):
    team = Api(app.test_client(), world.worker.key)
    closed = team.client.post(f"/api/v1/bridges/{story.bridge}/close",
                              json={"outcome": "perdu_de_vue"},
                              headers={"X-CSRFToken": team.token})
    assert closed.status_code == 200
    return team


def test_a_step_sent_again_to_a_closed_bridge_is_judged_without_opening_its_note(
        app, world, story, unseals):
    team = _closed_story(app, world, story)
    step = {"occurred_on": "2026-11-20", "kind": "appel"}
    path = f"/bridges/{story.bridge}/steps/{story.step}"
    before = reads(app)
    right = team.put(path, {**step, "note": STEP_NOTE})
    wrong = team.put(path, {**step, "note": "a guess"})
    assert (right.status_code, wrong.status_code) == (200, 409)
    assert STEP_NOTE not in right.text + wrong.text
    assert unseals == []  # answered from the digest: nothing was opened
    # Each comparison with the stored note leaves the trace a reading leaves.
    assert reads(app) == before + 2
    assert last_read(app).detail["via"] == "compare"
    with app.app_context():
        kept = db.session.get(BridgeStep, uuid.UUID(story.step))
        assert kept.read_note() == STEP_NOTE


def test_a_step_without_a_digest_is_never_the_same(app, world, story):
    """A note stored before digests: a resend is a conflict, never a silent overwrite and
    never a confirmation, until `flask keys digests` gives it its digest."""
    team = _closed_story(app, world, story)
    with app.app_context():
        db.session.execute(sa.update(BridgeStep).values(note_digest=None))
        db.session.commit()
    path = f"/bridges/{story.bridge}/steps/{story.step}"
    resend = {"occurred_on": "2026-11-20", "kind": "appel", "note": STEP_NOTE}
    assert team.put(path, resend).status_code == 409
    result = app.test_cli_runner().invoke(args=["keys", "digests"])
    assert result.exit_code == 0 and "1 digests added" in result.output, result.output
    assert team.put(path, resend).status_code == 200
    with app.app_context():
        assert db.session.get(BridgeStep, uuid.UUID(story.step)).read_note() == STEP_NOTE


def test_a_sent_referral_compared_with_a_guessed_message_leaves_a_trace(app, world, story):
    team = Api(app.test_client(), world.worker.key)
    body = {"contact": story.contact, "organisation": world.cpas.id,
            "modality": "rendez_vous"}
    path = f"/referrals/{story.referral}"
    before = reads(app)
    assert team.put(path, {**body, "message": MESSAGE}).status_code == 200
    assert team.put(path, {**body, "message": "a guess"}).status_code == 409
    assert reads(app) == before + 2
    with app.app_context():
        assert db.session.get(Referral, uuid.UUID(story.referral)).read_message() == MESSAGE


def test_a_referral_without_a_digest_is_never_the_same(app, world, story):
    team = Api(app.test_client(), world.worker.key)
    with app.app_context():
        db.session.execute(sa.update(Referral).values(message_digest=None))
        db.session.commit()
    resend = {"contact": story.contact, "organisation": world.cpas.id,
              "modality": "rendez_vous", "message": MESSAGE}
    assert team.put(f"/referrals/{story.referral}", resend).status_code == 409


def test_digests_survive_a_key_rotation(app, world, story, tmp_path):
    from .helpers import rotated_keys

    team = _closed_story(app, world, story)
    with rotated_keys(app, tmp_path) as (_, ring, _original):
        app.extensions["relais_keyring"] = ring
        resend = {"occurred_on": "2026-11-20", "kind": "appel", "note": STEP_NOTE}
        assert team.put(f"/bridges/{story.bridge}/steps/{story.step}",
                        resend).status_code == 200


def test_the_digest_is_keyed_and_bound_to_its_cell(app):
    with app.app_context():
        row = uuid.uuid4()
        digest = crypto.text_digest("bridge_step", "note", row, "  même texte ")
        assert digest == crypto.text_digest("bridge_step", "note", row, "même texte")
        assert digest != crypto.text_digest("bridge_step", "note", uuid.uuid4(), "même texte")
        assert digest != crypto.text_digest("referral", "message", row, "même texte")
        import hashlib

        assert digest != hashlib.sha256("même texte".encode()).hexdigest()
        other_ring = crypto.new_key_ring()
        assert digest != crypto.text_digest("bridge_step", "note", row, "même texte",
                                            other_ring)
        assert crypto.text_digest("bridge_step", "note", row, "   ") is None
