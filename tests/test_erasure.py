"""Erasing free text and unlinking person codes (app/erasure.py), the ground of both the
retention purge and "forget this person": nothing of the text is left for the application,
no code typed later finds the records again, and the evaluation's figures do not move."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app import crypto, erasure
from app.evaluation.dashboard import active_indicators
from app.extensions import db
from app.models import Contact, RecordVersion

from .helpers import contact_payload, figures, new_id

CODE = "MARIE-77"


def _contact(worker_api, **overrides) -> str:
    contact_id = new_id()
    payload = contact_payload(**{"person_code": CODE, "note": "Première note", **overrides})
    assert worker_api.put(f"/contacts/{contact_id}", payload).status_code == 201
    # A second version, so that the first one (with its note and code) is kept in history.
    assert worker_api.edit(f"/contacts/{contact_id}",
                           {**payload, "note": "Deuxième note"}).status_code == 200
    return contact_id


def _row(app, contact_id):
    with app.app_context():
        contact = db.session.get(Contact, uuid.UUID(contact_id))
        versions = db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_id == contact_id)).all()
        snapshot = (contact.note, contact.person_code_hash, contact.version,
                    contact.updated_at, [dict(v.fields) for v in versions])
        db.session.remove()
        return snapshot


def test_erasing_free_text_leaves_nothing_and_moves_nothing(app, world, worker_api):
    first, second = _contact(worker_api), _contact(worker_api)
    before = figures(app, world)
    _, code_before, version, updated_at, history = _row(app, first)
    assert any(v["note"] for v in history)
    with app.app_context():
        counts = erasure.erase_free_text("contact", [uuid.UUID(first)])
        db.session.commit()
    assert counts["contact.note"] == 1 and counts["contact.history"] == 2
    note, code, version_after, updated_after, history = _row(app, first)
    assert note is None and all(v["note"] is None for v in history)
    # Not a change: same version, same last change, same code; the other record untouched.
    assert (code, version_after, updated_after) == (code_before, version, updated_at)
    assert _row(app, second)[0] is not None
    assert worker_api.get(f"/contacts/{first}").get_json()["note"] is None
    assert figures(app, world) == before


def test_unlinking_a_code_keeps_one_person_and_the_figures(app, world, worker_api):
    contacts = [_contact(worker_api), _contact(worker_api, neighbourhood="brabant")]
    other = _contact(worker_api, person_code="SOMEONE-ELSE")
    before = figures(app, world)
    with app.app_context():
        repeat = [i.code for i in active_indicators() if i.measure == "distinct_persons_repeat"]
    # MARIE-77 met twice (once in each neighbourhood); SOMEONE-ELSE once.
    assert repeat and all(before[code].n == 1 for code in repeat)
    with app.app_context():
        code_hash = crypto.person_code_hash(CODE)
        counts = erasure.unlink_codes([code_hash])
        db.session.commit()
    assert counts["contact.code"] == 2 and counts["contact.history_code"] == 4
    pseudonyms = {_row(app, c)[1] for c in contacts}
    assert len(pseudonyms) == 1  # one person still, under a pseudonym
    pseudonym = pseudonyms.pop()
    assert erasure.is_pseudonym(pseudonym) and len(pseudonym) == 64
    assert all(v["person_code"] == pseudonym for c in contacts for v in _row(app, c)[4])
    with app.app_context():
        # No code typed later finds them: the code's HMAC is nowhere any more.
        assert db.session.scalar(select(Contact).where(
            Contact.person_code_hash == code_hash)) is None
        assert not any(code_hash in str(v.fields)
                       for v in db.session.scalars(select(RecordVersion)))
    assert _row(app, other)[1] != pseudonym
    # A worker typing the code again meets nobody.
    answer = worker_api.get(f"/contacts/{contacts[0]}").get_json()
    assert "person_code" not in answer or answer["person_code"] is None
    assert figures(app, world) == before
    # A pseudonym is never taken for a code to unlink again.
    with app.app_context():
        assert erasure.unlink_codes([pseudonym]) == {}


def test_unlinking_only_some_records(app, world, worker_api):
    here, there = _contact(worker_api), _contact(worker_api, neighbourhood="brabant")
    with app.app_context():
        erasure.unlink_codes([crypto.person_code_hash(CODE)],
                             contact_ids=[uuid.UUID(here)], bridge_ids=[])
        db.session.commit()
        still = crypto.person_code_hash(CODE)
    assert erasure.is_pseudonym(_row(app, here)[1])
    assert _row(app, there)[1] == still


def test_re_sealing_under_a_new_key_is_not_an_activity(app, world, worker_api, tmp_path):
    """Retention reads a record's last change as its last activity: a key rotation, which
    rewrites every note, must not make old notes look recent."""
    from .helpers import rotated_keys

    contact_id = _contact(worker_api)
    note_before, _, version, updated_at, _ = _row(app, contact_id)
    with rotated_keys(app, tmp_path):
        note_after, _, version_after, updated_after, _ = _row(app, contact_id)
    assert note_after != note_before  # sealed anew…
    assert (version_after, updated_after) == (version, updated_at)  # …and nothing else
