"""Retention: the daily purge (`flask --app app retention purge [--dry-run]`, DESIGN §3).

Two settings (app/config.py), both in calendar months before today, counted in local dates
(Europe/Brussels: the same day N months earlier, clamped to the end of a shorter month; the
cutoff is that day's local midnight; 0 months means "everything up to now"):

* `RETENTION_NOTES_MONTHS`: the free text of a record (contact note, referral message and
  reply, bridge step notes) and of its kept versions is erased once the record's LAST
  ACTIVITY is before the cutoff. Last activity: a contact's `occurred_at` and last change;
  a referral's creation, sending, status change, last change and events; a bridge's opening,
  closing, last change and its steps' days and last changes. Erasing is not an activity
  (app.erasure keeps `updated_at`), nor is re-sealing under a new key (versions.not_a_change).
* `RETENTION_CODES_MONTHS`: see `_codes_to_unlink`.

Only free text and codes go: the records, their terms, their counts and so the evaluation's
figures stay exactly as they were. Every run leaves an audit event with counts only.
"""

from __future__ import annotations

import calendar
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import and_, exists, func, not_, or_, select
from sqlalchemy.orm import aliased

from . import audit, erasure
from .extensions import db
from .models import Bridge, BridgeStep, Contact, RecordVersion, Referral, ReferralEvent

PURGED = "retention_purged"
DRY_RUN = "retention_dry_run"
ACTIONS = (PURGED, DRY_RUN)

# What a run reports, in this order: (key, words for the command's output).
KINDS = (
    ("contact_notes", "contact notes"),
    ("referral_messages", "referral messages"),
    ("referral_replies", "referral replies"),
    ("step_notes", "bridge step notes"),
    ("kept_versions", "kept versions (free text)"),
    ("contact_codes", "contact codes"),
    ("bridge_codes", "bridge codes"),
    ("version_codes", "kept versions (codes)"),
)
# app.erasure's counters, by the key they are reported under.
_FROM_ERASURE = {
    "contact.note": "contact_notes",
    "referral.message": "referral_messages",
    "referral.reply": "referral_replies",
    "bridge_step.note": "step_notes",
    "contact.history": "kept_versions",
    "referral.history": "kept_versions",
    "bridge_step.history": "kept_versions",
    "contact.code": "contact_codes",
    "bridge.code": "bridge_codes",
    "contact.history_code": "version_codes",
}


@dataclass
class Report:
    dry_run: bool
    notes_months: int
    codes_months: int
    notes_cutoff: datetime
    codes_cutoff: datetime
    counts: dict = field(default_factory=dict)

    @property
    def erased(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        verb = "Would erase" if self.dry_run else "Erased"
        return [f"{verb} {self.counts.get(key, 0)} {words}" for key, words in KINDS]


# -- the cutoffs ------------------------------------------------------------------------------
def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, clamped to the end of the month."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def cutoff(now: datetime, months: int) -> datetime:
    """The instant before which an activity is older than `months` (UTC, aware): local
    midnight of the same local day `months` months earlier; `now` itself for 0."""
    from .web import local_tz

    if months <= 0:
        return now.astimezone(UTC)
    tz = local_tz()
    day = months_before(now.astimezone(tz).date(), months)
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _days_before(limit: datetime) -> date:
    """Step days (local dates) that began before `limit`: `occurred_on < _days_before(limit)`."""
    from .web import local_tz

    local = limit.astimezone(local_tz())
    day = local.date()
    return day if local.time() == time() else day + timedelta(days=1)


# -- what is old ------------------------------------------------------------------------------
# "Last activity before the cutoff" is written as "every activity before the cutoff" (NULLs,
# e.g. a referral never sent, are no activity): the same meaning as the latest of the dates,
# without SQLite's max() / PostgreSQL's GREATEST and their different NULL rules.
def _before(column, limit):
    return or_(column.is_(None), column < limit)


def _old_contact(limit):
    return and_(Contact.occurred_at < limit, Contact.updated_at < limit)


def _old_referral(limit):
    return and_(
        Referral.created_at < limit, _before(Referral.sent_at, limit),
        Referral.status_changed_at < limit, Referral.updated_at < limit,
        not_(exists().where(ReferralEvent.referral_id == Referral.id,
                            ReferralEvent.at >= limit)))


def _old_bridge(limit):
    return and_(
        Bridge.opened_at < limit, _before(Bridge.closed_at, limit), Bridge.updated_at < limit,
        not_(exists().where(BridgeStep.bridge_id == Bridge.id,
                            or_(BridgeStep.occurred_on >= _days_before(limit),
                                BridgeStep.updated_at >= limit))))


def _ids_among(model, ids, where) -> list:
    found = []
    for chunk in erasure._chunks(list(ids)):
        found += db.session.scalars(select(model.id).where(model.id.in_(chunk), where))
    return found


def _history_with_text(record_type: str, columns) -> set:
    """Ids (as stored in record_version) of the records of `record_type` with a kept version
    that still holds free text."""
    return set(db.session.scalars(select(RecordVersion.record_id).distinct().where(
        RecordVersion.record_type == record_type,
        or_(*(RecordVersion.fields[name].as_string().is_not(None) for name in columns)))))


def _old_with_text(model, record_type: str, old, has_text, history_columns,
                   history_type: str | None = None, parent=None) -> list:
    """Ids of the old `model` records that still have free text, in the record or in a kept
    version (of the record, or of its children when `parent` maps child ids to it)."""
    ids = set(db.session.scalars(select(model.id).where(old, has_text)))
    in_history = _history_with_text(history_type or record_type, history_columns)
    if in_history:
        keys = [uuid.UUID(key) for key in in_history]
        if parent is not None:
            keys = parent(keys)
        ids.update(_ids_among(model, keys, old))
    return sorted(ids, key=str)


def _bridges_of_steps(step_ids) -> list:
    found = []
    for chunk in erasure._chunks(list(step_ids)):
        found += db.session.scalars(select(BridgeStep.bridge_id).distinct()
                                    .where(BridgeStep.id.in_(chunk)))
    return found


def _notes_to_erase(limit) -> dict:
    contacts = _old_with_text(Contact, "contact", _old_contact(limit), Contact.note.is_not(None),
                              ["note"])
    referrals = _old_with_text(Referral, "referral", _old_referral(limit),
                               or_(Referral.message.is_not(None), Referral.reply.is_not(None)),
                               ["message", "reply"])
    with_step_text = select(BridgeStep.bridge_id).where(BridgeStep.note.is_not(None))
    bridges = _old_with_text(Bridge, "bridge", _old_bridge(limit),
                             Bridge.id.in_(with_step_text), ["note"],
                             history_type="bridge_step", parent=_bridges_of_steps)
    return {"contact": contacts, "referral": referrals, "bridge": bridges}


def _codes_to_unlink(limit) -> list[str]:
    """Person codes whose every record is older than `limit`.

    A code is unlinked when EVERYTHING carrying it is old: every contact with it happened
    before the cutoff, and every bridge with it is closed, and closed before the cutoff (an
    open bridge is a follow-up still going on: it keeps the code, and so do the old contacts
    of that person). Then all the records carrying it are unlinked together, under ONE
    pseudonym (app.erasure.unlink_codes). Unlinking record by record as each grows old would
    give one person's old and recent contacts different codes: the evaluation would count
    them as several people and its "met at least twice" figure would move, which issue 14
    forbids ("counts, terms and figures stay exactly as they were").
    Pseudonyms (already unlinked) are never codes to unlink again.
    """
    other, live = aliased(Contact), aliased(Bridge)

    def recent_contact_of(code_column):
        return exists().where(other.person_code_hash == code_column, other.occurred_at >= limit)

    def live_bridge_of(code_column):
        return exists().where(live.person_code_hash == code_column,
                              or_(live.status != "closed", live.closed_at.is_(None),
                                  live.closed_at >= limit))

    def not_pseudonym(column):
        return not_(column.startswith(erasure.PSEUDONYM_PREFIX))

    from_contacts = select(Contact.person_code_hash).distinct().where(
        Contact.person_code_hash.is_not(None), not_pseudonym(Contact.person_code_hash),
        not_(recent_contact_of(Contact.person_code_hash)),
        not_(live_bridge_of(Contact.person_code_hash)))
    from_bridges = select(Bridge.person_code_hash).distinct().where(
        Bridge.person_code_hash.is_not(None), not_pseudonym(Bridge.person_code_hash),
        Bridge.status == "closed", Bridge.closed_at < limit,
        not_(recent_contact_of(Bridge.person_code_hash)),
        not_(live_bridge_of(Bridge.person_code_hash)))
    codes = set(db.session.scalars(from_contacts)) | set(db.session.scalars(from_bridges))
    return sorted(codes)


# -- counting without changing (--dry-run) ---------------------------------------------------
def _count_not_null(model, ids, column) -> int:
    total = 0
    for chunk in erasure._chunks(list(ids)):
        total += db.session.scalar(select(func.count()).select_from(model).where(
            model.id.in_(chunk), column.is_not(None)))
    return total


def _count_history(record_type: str, ids, test) -> int:
    return sum(1 for row in erasure._history(record_type, ids) if test(row.fields or {}))


def _has_text(columns):
    return lambda fields: any(fields.get(name) is not None for name in columns)


def _step_ids(bridge_ids) -> list:
    found = []
    for chunk in erasure._chunks(list(bridge_ids)):
        found += db.session.scalars(select(BridgeStep.id).where(BridgeStep.bridge_id.in_(chunk)))
    return found


def _would_erase(notes: dict, codes: list[str]) -> Counter:
    counts: Counter = Counter()
    contacts, referrals = notes["contact"], notes["referral"]
    steps = _step_ids(notes["bridge"])
    counts["contact_notes"] = _count_not_null(Contact, contacts, Contact.note)
    counts["referral_messages"] = _count_not_null(Referral, referrals, Referral.message)
    counts["referral_replies"] = _count_not_null(Referral, referrals, Referral.reply)
    counts["step_notes"] = _count_not_null(BridgeStep, steps, BridgeStep.note)
    counts["kept_versions"] = (
        _count_history("contact", contacts, _has_text(["note"]))
        + _count_history("referral", referrals, _has_text(["message", "reply"]))
        + _count_history("bridge_step", steps, _has_text(["note"])))
    for code in codes:
        carrying = list(db.session.scalars(select(Contact.id).where(
            Contact.person_code_hash == code)))
        counts["contact_codes"] += len(carrying)
        counts["bridge_codes"] += db.session.scalar(select(func.count()).select_from(Bridge)
                                                    .where(Bridge.person_code_hash == code))
        counts["version_codes"] += _count_history(
            "contact", carrying, lambda fields, code=code: fields.get("person_code") == code)
    return counts


# -- the purge --------------------------------------------------------------------------------
def purge(now: datetime | None = None, *, dry_run: bool = False) -> Report:
    """Erase what the retention settings say is due (or, with `dry_run`, only count it), and
    leave an audit event with the counts. Returns what was (or would be) erased."""
    now = now or datetime.now(UTC)
    notes_months, codes_months = settings()
    report = Report(dry_run, notes_months, codes_months,
                    cutoff(now, notes_months), cutoff(now, codes_months))
    notes = _notes_to_erase(report.notes_cutoff)
    codes = _codes_to_unlink(report.codes_cutoff)
    if dry_run:
        counts = _would_erase(notes, codes)
        db.session.rollback()  # nothing was written; end the read transaction
    else:
        raw: Counter = Counter()
        raw += erasure.erase_free_text("contact", notes["contact"])
        raw += erasure.erase_free_text("referral", notes["referral"])
        raw += erasure.erase_bridges_free_text(notes["bridge"])
        raw += erasure.unlink_codes(codes)
        counts = Counter()
        for key, value in raw.items():
            counts[_FROM_ERASURE[key]] += value
    report.counts = {key: int(counts.get(key, 0)) for key, _ in KINDS}
    # Committed with the erasure itself: no purge without its event, no event without it.
    audit.record_now(DRY_RUN if dry_run else PURGED, user=None, object_type="retention",
                     detail={**report.counts, "notes_months": notes_months,
                             "codes_months": codes_months})
    if not dry_run and report.erased:
        erasure.reclaim_space()
    return report


def settings() -> tuple[int, int]:
    """(RETENTION_NOTES_MONTHS, RETENTION_CODES_MONTHS)."""
    return (int(current_app.config["RETENTION_NOTES_MONTHS"]),
            int(current_app.config["RETENTION_CODES_MONTHS"]))


def last_run():
    """The latest purge's audit event (real or dry), or None."""
    from .models import AuditEvent

    return db.session.scalar(select(AuditEvent).where(AuditEvent.action.in_(ACTIONS))
                             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))


retention_cli = AppGroup("retention", help="Retention: erase old notes, unlink old person codes.")


@retention_cli.command("purge")
@click.option("--dry-run", is_flag=True,
              help="Print what would be erased, per kind, and change nothing.")
def purge_command(dry_run: bool):
    """Erase the free text of records idle for RETENTION_NOTES_MONTHS and unlink the person
    codes idle for RETENTION_CODES_MONTHS (meant to run daily, from cron)."""
    report = purge(dry_run=dry_run)
    click.echo(f"Notes: last activity before {report.notes_cutoff:%Y-%m-%d %H:%M} UTC "
               f"({report.notes_months} months); codes: last contact before "
               f"{report.codes_cutoff:%Y-%m-%d %H:%M} UTC ({report.codes_months} months).")
    for line in report.lines():
        click.echo(line)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    elif report.erased:
        click.echo("Freed space reclaimed (VACUUM).")
    else:
        click.echo("Nothing to erase.")
