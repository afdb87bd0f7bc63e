"""The daily retention purge (app/retention.py, issue 14 item 1): at its boundaries with a
fixed clock, in the kept versions, dry or real, idempotent, audited with counts only, without
moving a figure, and gone from the database files."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app import crypto, erasure, retention
from app.evaluation.dashboard import active_indicators
from app.extensions import db
from app.models import (
    AuditEvent,
    Bridge,
    BridgeStep,
    Contact,
    RecordVersion,
    Referral,
    ReferralEvent,
)

from .conftest import Api
from .helpers import assert_gone_from_the_files, contact_payload, figures, new_id

# A fixed clock. Notes (24 months): local midnight of 2024-06-15 in Brussels, i.e.
# 2024-06-14 22:00 UTC. Codes (36 months): local midnight of 2023-06-15.
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
NOTES_CUTOFF = datetime(2024, 6, 14, 22, 0, tzinfo=UTC)
CODES_CUTOFF = datetime(2023, 6, 14, 22, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BEFORE, AFTER = NOTES_CUTOFF - DAY, NOTES_CUTOFF + DAY


def test_cutoffs_are_local_calendar_months(app):
    with app.app_context():
        assert retention.cutoff(NOW, 24) == NOTES_CUTOFF
        assert retention.cutoff(NOW, 36) == CODES_CUTOFF
        # The same day N months earlier, clamped to the end of a shorter month.
        assert retention.months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
        assert retention.months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
        assert retention.months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)
        # Local dates: 23:30 UTC on 31 March is already 1 April in Brussels.
        late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
        assert retention.cutoff(late, 1) == datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
        assert retention.cutoff(NOW, 0) == NOW


# -- making records, then sending them into the past ------------------------------------------
def _contact(api, code="MARIE-77", note="NOTE-CONTACT", neighbourhood="colignon") -> str:
    contact_id = new_id()
    payload = contact_payload(person_code=code, note=note, neighbourhood=neighbourhood)
    assert api.put(f"/contacts/{contact_id}", payload).status_code == 201
    # A second version, so that the first one (note and code) is kept in history.
    assert api.edit(f"/contacts/{contact_id}",
                    {**payload, "note": note + "-BIS"}).status_code == 200
    return contact_id


def _referral(app, world, api, code="REF-11") -> str:
    contact_id = _contact(api, code=code)
    referral_id = new_id()
    assert api.put(f"/referrals/{referral_id}", {
        "contact": contact_id, "organisation": world.cpas.id, "modality": "rendez_vous",
        "message": "MESSAGE-ORIENTATION"}).status_code == 201
    assert api.client.post(f"/api/v1/referrals/{referral_id}/status", json={"status": "sent"},
                           headers={"X-CSRFToken": api.token}).status_code == 200
    partner = Api(app.test_client(), world.partner.key)
    assert partner.client.post(f"/api/v1/referrals/{referral_id}/status",
                               json={"status": "received", "reply": "REPONSE-PARTENAIRE"},
                               headers={"X-CSRFToken": partner.token}).status_code == 200
    return referral_id


def _bridge(api, code="PONT-22", *, close=False) -> tuple[str, str]:
    contact_id = _contact(api, code=code)
    bridge_id, step_id = new_id(), new_id()
    assert api.put(f"/bridges/{bridge_id}", {"contact": contact_id}).status_code == 201
    step = {"occurred_on": date.today().isoformat(), "kind": "appel", "note": "NOTE-PONT"}
    assert api.put(f"/bridges/{bridge_id}/steps/{step_id}", step).status_code == 201
    assert api.edit(f"/bridges/{bridge_id}/steps/{step_id}",
                    {**step, "note": "NOTE-PONT-BIS"}).status_code == 200
    if close:
        assert api.client.post(f"/api/v1/bridges/{bridge_id}/close",
                               json={"outcome": "perdu_de_vue"},
                               headers={"X-CSRFToken": api.token}).status_code == 200
    return bridge_id, contact_id


def _set(app, model, record_id, **values):
    with app.app_context():
        db.session.execute(update(model).where(model.id == uuid.UUID(str(record_id)))
                           .values(**values).execution_options(synchronize_session=False))
        db.session.commit()


def _age_contact(app, contact_id, when):
    _set(app, Contact, contact_id, occurred_at=when, created_at=when, updated_at=when)


def _age_referral(app, referral_id, when):
    _set(app, Referral, referral_id, created_at=when, sent_at=when, status_changed_at=when,
         updated_at=when)
    with app.app_context():
        db.session.execute(update(ReferralEvent).where(
            ReferralEvent.referral_id == uuid.UUID(referral_id)).values(at=when))
        db.session.commit()


def _age_bridge(app, bridge_id, when):
    with app.app_context():
        bridge = db.session.get(Bridge, uuid.UUID(bridge_id))
        closed = bridge.closed_at is not None
        db.session.remove()
    _set(app, Bridge, bridge_id, opened_at=when, updated_at=when,
         **({"closed_at": when} if closed else {}))
    with app.app_context():
        db.session.execute(update(BridgeStep).where(BridgeStep.bridge_id == uuid.UUID(bridge_id))
                           .values(occurred_on=when.date(), created_at=when, updated_at=when))
        db.session.commit()


def _purge(app, now=NOW, **kwargs):
    with app.app_context():
        report = retention.purge(now, **kwargs)
        db.session.remove()
        return report


def _history(app, record_type, record_id) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(RecordVersion.fields).where(
            RecordVersion.record_type == record_type,
            RecordVersion.record_id == str(record_id))).all()
        db.session.remove()
        return [dict(row) for row in rows]


def _get(app, model, record_id, *names):
    with app.app_context():
        row = db.session.get(model, uuid.UUID(str(record_id)))
        values = tuple(getattr(row, name) for name in names)
        db.session.remove()
        return values


def _contact_text(app, contact_id) -> list:
    return [_get(app, Contact, contact_id, "note")[0],
            *(v["note"] for v in _history(app, "contact", contact_id))]


def _steps_text(app, bridge_id) -> list:
    with app.app_context():
        steps = db.session.scalars(select(BridgeStep).where(
            BridgeStep.bridge_id == uuid.UUID(bridge_id))).all()
        found = [(s.note, str(s.id)) for s in steps]
        db.session.remove()
    return [note for note, _ in found] + [
        v["note"] for _, step_id in found for v in _history(app, "bridge_step", step_id)]


# -- notes at their boundary ------------------------------------------------------------------
def test_contact_notes_at_the_boundary(app, world, worker_api):
    old, recent = _contact(worker_api), _contact(worker_api)
    _age_contact(app, old, BEFORE)
    _age_contact(app, recent, AFTER)
    # A contact that happened long ago but was changed after the cutoff is recent.
    edited = _contact(worker_api)
    _set(app, Contact, edited, occurred_at=BEFORE - 300 * DAY, created_at=BEFORE - 300 * DAY,
         updated_at=AFTER)
    report = _purge(app)
    assert all(value is None for value in _contact_text(app, old))
    assert all(value is not None for value in _contact_text(app, recent))
    assert all(value is not None for value in _contact_text(app, edited))
    assert report.counts["contact_notes"] == 1 and report.counts["kept_versions"] == 2
    # Erasing is not an activity: the last change stays where it was.
    assert _get(app, Contact, old, "updated_at")[0] == BEFORE


def test_referral_message_and_reply_at_the_boundary(app, world, worker_api):
    old, recent = _referral(app, world, worker_api), _referral(app, world, worker_api)
    _age_referral(app, old, BEFORE)
    _age_referral(app, recent, BEFORE)
    # One event after the cutoff (e.g. the partner's answer) keeps the whole referral.
    with app.app_context():
        event = db.session.scalars(select(ReferralEvent).where(
            ReferralEvent.referral_id == uuid.UUID(recent))).first()
        event.at = AFTER
        db.session.commit()
    report = _purge(app)
    assert _get(app, Referral, old, "message", "reply", "message_digest") == (None, None, None)
    assert all(v.get("message") is None and v.get("reply") is None
               for v in _history(app, "referral", old))
    message, reply = _get(app, Referral, recent, "message", "reply")
    assert message is not None and reply is not None
    assert report.counts["referral_messages"] == 1 and report.counts["referral_replies"] == 1


def test_bridge_step_notes_at_the_boundary(app, world, worker_api):
    (old, _), (recent, _) = _bridge(worker_api, "PONT-1"), _bridge(worker_api, "PONT-2")
    _age_bridge(app, old, BEFORE)
    _age_bridge(app, recent, BEFORE)
    # A step dated after the cutoff is an activity of its bridge.
    _set_steps = update(BridgeStep).where(BridgeStep.bridge_id == uuid.UUID(recent))
    with app.app_context():
        db.session.execute(_set_steps.values(occurred_on=AFTER.date()))
        db.session.commit()
    report = _purge(app)
    assert _steps_text(app, old) and all(note is None for note in _steps_text(app, old))
    assert all(note is not None for note in _steps_text(app, recent))
    assert report.counts["step_notes"] == 1
    # The contacts behind them were made now: their notes stay.
    assert report.counts["contact_notes"] == 0


# -- codes at their boundary ------------------------------------------------------------------
def _code_of(app, model, record_id) -> str:
    return _get(app, model, record_id, "person_code_hash")[0]


def test_codes_unlinked_when_everything_is_old(app, world, worker_api):
    first = _contact(worker_api, code="VIEUX-1")
    second = _contact(worker_api, code="VIEUX-1", neighbourhood="brabant")
    kept = _contact(worker_api, code="RECENT-2")
    _age_contact(app, first, CODES_CUTOFF - DAY)
    _age_contact(app, second, CODES_CUTOFF - 30 * DAY)
    _age_contact(app, kept, CODES_CUTOFF + DAY)
    with app.app_context():
        hashes = (crypto.person_code_hash("VIEUX-1"), crypto.person_code_hash("RECENT-2"))
    report = _purge(app)
    pseudonyms = {_code_of(app, Contact, first), _code_of(app, Contact, second)}
    assert len(pseudonyms) == 1 and erasure.is_pseudonym(pseudonyms.pop())  # one person still
    assert all(erasure.is_pseudonym(v["person_code"])
               for c in (first, second) for v in _history(app, "contact", c))
    assert _code_of(app, Contact, kept) == hashes[1]
    assert report.counts["contact_codes"] == 2 and report.counts["version_codes"] == 4


def test_a_recent_contact_keeps_the_code_on_old_ones(app, world, worker_api):
    old, recent = _contact(worker_api, code="SUIVI-3"), _contact(worker_api, code="SUIVI-3")
    _age_contact(app, old, CODES_CUTOFF - 400 * DAY)
    _age_contact(app, recent, CODES_CUTOFF + DAY)
    with app.app_context():
        code_hash = crypto.person_code_hash("SUIVI-3")
    report = _purge(app)
    assert _code_of(app, Contact, old) == _code_of(app, Contact, recent) == code_hash
    assert report.counts["contact_codes"] == 0


def test_an_open_bridge_keeps_the_code(app, world, worker_api):
    bridge_id, contact_id = _bridge(worker_api, "OUVERT-4")
    _age_contact(app, contact_id, CODES_CUTOFF - 100 * DAY)
    _age_bridge(app, bridge_id, CODES_CUTOFF - 100 * DAY)
    with app.app_context():
        code_hash = crypto.person_code_hash("OUVERT-4")
    _purge(app)
    assert _code_of(app, Contact, contact_id) == _code_of(app, Bridge, bridge_id) == code_hash


def test_a_closed_bridge_at_the_boundary(app, world, worker_api):
    (old, old_contact) = _bridge(worker_api, "FERME-5", close=True)
    (recent, recent_contact) = _bridge(worker_api, "FERME-6", close=True)
    for bridge_id, contact_id in ((old, old_contact), (recent, recent_contact)):
        _age_contact(app, contact_id, CODES_CUTOFF - 200 * DAY)
        _age_bridge(app, bridge_id, CODES_CUTOFF - 200 * DAY)
    _set(app, Bridge, old, closed_at=CODES_CUTOFF - DAY)
    _set(app, Bridge, recent, closed_at=CODES_CUTOFF + DAY)
    with app.app_context():
        code_hash = crypto.person_code_hash("FERME-6")
    report = _purge(app)
    pseudonym = _code_of(app, Bridge, old)
    assert erasure.is_pseudonym(pseudonym) and _code_of(app, Contact, old_contact) == pseudonym
    assert _code_of(app, Bridge, recent) == _code_of(app, Contact, recent_contact) == code_hash
    assert report.counts["bridge_codes"] == 1 and report.counts["contact_codes"] == 1


# -- dry run, settings, audit, figures, idempotence -------------------------------------------
def _old_world(app, world, worker_api) -> dict:
    contacts = [_contact(worker_api, code="MONDE-7"),
                _contact(worker_api, code="MONDE-7", neighbourhood="brabant"),
                _contact(worker_api, code="AUTRE-8")]
    referral = _referral(app, world, worker_api, code="MONDE-9")
    bridge, bridge_contact = _bridge(worker_api, "MONDE-10", close=True)
    long_ago = CODES_CUTOFF - 60 * DAY
    with app.app_context():
        referral_contact = db.session.get(Referral, uuid.UUID(referral)).contact_id
        db.session.remove()
    for contact_id in (*contacts, bridge_contact, referral_contact):
        _age_contact(app, contact_id, long_ago)
    _age_referral(app, referral, long_ago)
    _age_bridge(app, bridge, long_ago)
    return {"contacts": contacts, "referral": referral, "bridge": bridge}


def _state(app) -> dict:
    """Every row of the tables the purge may touch, as stored."""
    with app.app_context():
        state = {}
        for table in ("contact", "referral", "bridge", "bridge_step", "record_version"):
            rows = db.session.execute(db.metadata.tables[table].select()).all()
            state[table] = sorted(tuple(str(v) for v in row) for row in rows)
        db.session.remove()
        return state


def test_dry_run_changes_nothing_and_counts_what_a_run_erases(app, world, worker_api):
    _old_world(app, world, worker_api)
    before = _state(app)
    dry = _purge(app, dry_run=True)
    assert _state(app) == before
    # 5 contacts (3, the referral's, the bridge's) of two versions each; the referral's 3
    # versions (proposed, sent, received with the reply); the step's 2.
    assert dry.counts == {"contact_notes": 5, "referral_messages": 1, "referral_replies": 1,
                          "step_notes": 1, "kept_versions": 15, "contact_codes": 5,
                          "bridge_codes": 1, "version_codes": 10}
    real = _purge(app)
    assert real.counts == dry.counts
    assert _state(app) != before
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(retention.ACTIONS)).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["retention_dry_run", "retention_purged"]
        assert all(e.user_id is None for e in events)
        assert events[0].detail == {**dry.counts, "notes_months": 24, "codes_months": 36}
        db.session.remove()


def test_a_second_run_erases_nothing_more(app, world, worker_api):
    _old_world(app, world, worker_api)
    assert _purge(app).erased > 0
    after_first = _state(app)
    second = _purge(app)
    assert second.erased == 0 and set(second.counts.values()) == {0}
    assert _state(app) == after_first


def test_figures_do_not_move(app, world, worker_api):
    made = _old_world(app, world, worker_api)
    before = figures(app, world, date(2020, 1, 1))
    with app.app_context():
        repeat = [i.code for i in active_indicators() if i.measure == "distinct_persons_repeat"]
    assert repeat and any(before[code].n for code in repeat)  # MONDE-7, met twice, counts
    counts_before = {t: len(rows) for t, rows in _state(app).items()}
    report = _purge(app)
    assert report.counts["contact_codes"] and report.counts["contact_notes"]
    assert figures(app, world, date(2020, 1, 1)) == before
    assert {t: len(rows) for t, rows in _state(app).items()} == counts_before
    # Terms stay: the contacts still answer with their themes.
    body = worker_api.get(f"/contacts/{made['contacts'][0]}").get_json()
    assert body["themes"] and body["note"] is None


def test_zero_months_erases_everything_up_to_now(app, world, worker_api):
    contact_id = _contact(worker_api)
    bridge_id, _ = _bridge(worker_api, "ZERO-1")
    saved = app.config["RETENTION_NOTES_MONTHS"]
    app.config["RETENTION_NOTES_MONTHS"] = 0
    try:
        report = _purge(app, now=datetime.now(UTC) + timedelta(seconds=1))
    finally:
        app.config["RETENTION_NOTES_MONTHS"] = saved
    assert all(value is None for value in _contact_text(app, contact_id))
    assert all(note is None for note in _steps_text(app, bridge_id))
    assert report.notes_months == 0 and report.counts["step_notes"] == 1
    # Codes follow their own setting (36 months): these people were met today.
    assert report.counts["contact_codes"] == 0


def test_audit_events_hold_counts_never_a_code(app, world, worker_api):
    _old_world(app, world, worker_api)
    with app.app_context():
        codes = {crypto.person_code_hash(c) for c in ("MONDE-7", "AUTRE-8", "MONDE-9",
                                                      "MONDE-10")}
        db.session.remove()
    _purge(app, dry_run=True)
    _purge(app)
    with app.app_context():
        pseudonyms = set(db.session.scalars(select(Contact.person_code_hash)))
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(retention.ACTIONS))).all()
        details = [dict(e.detail) for e in events]
        db.session.remove()
    assert len(details) == 2
    for detail in details:
        assert all(isinstance(value, int) for value in detail.values())
        dumped = repr(detail)
        assert not any(code in dumped for code in codes | pseudonyms)
        assert not re.search(r"[0-9a-f]{16}|u[0-9a-f]{16}", dumped)


# -- the database files -----------------------------------------------------------------------
def _sealed_tokens(app, contact_id) -> list[str]:
    """The note's sealed values as stored: the column's, and its kept versions'."""
    return _contact_text(app, contact_id)


def test_erased_notes_are_gone_from_the_database_files(app, world, worker_api):
    canary = _contact(worker_api, note="CANARI-" + "x" * 40)
    _age_contact(app, canary, BEFORE)
    tokens = _sealed_tokens(app, canary)
    assert len(tokens) == 3  # the note and its two kept versions

    def erase():
        assert _purge(app).counts["contact_notes"] == 1

    assert_gone_from_the_files(app, tokens, erase)


# -- the command and the admin home -----------------------------------------------------------
def test_cli_dry_run_then_purge(app, world, worker_api):
    contact_id = _contact(worker_api)
    runner = app.test_cli_runner()
    saved = app.config["RETENTION_NOTES_MONTHS"]
    app.config["RETENTION_NOTES_MONTHS"] = 0
    try:
        dry = runner.invoke(args=["retention", "purge", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "Would erase 1 contact notes" in dry.output
        assert "Would erase 2 kept versions (free text)" in dry.output
        assert "Dry run: nothing was changed." in dry.output
        assert all(value is not None for value in _contact_text(app, contact_id))
        real = runner.invoke(args=["retention", "purge"])
        assert real.exit_code == 0, real.output
        assert "Erased 1 contact notes" in real.output
        assert "Freed space reclaimed" in real.output
        assert all(value is None for value in _contact_text(app, contact_id))
        again = runner.invoke(args=["retention", "purge"])
        assert "Erased 0 contact notes" in again.output and "Nothing to erase." in again.output
    finally:
        app.config["RETENTION_NOTES_MONTHS"] = saved


@pytest.fixture
def admin(app, world):
    return Api(app.test_client(), world.admin.key)


def test_admin_home_shows_the_settings_and_the_last_run(app, world, admin, worker_api):
    page = admin.client.get("/admin").text
    assert "Conservation des données" in page
    assert "Notes effacées 24 mois après la dernière activité" in page
    assert "Codes personne déliés 36 mois après le dernier contact" in page
    assert "Purge jamais lancée" in page and "retention purge" in page
    _purge(app, dry_run=True)
    page = admin.client.get("/admin").text
    assert "essai à blanc" in page and "jamais lancée" not in page
    _old_world(app, world, worker_api)
    _purge(app)
    page = admin.client.get("/admin").text
    assert "Dernière purge :" in page and "essai à blanc" not in page
    assert "Notes de contacts : 5" in page
