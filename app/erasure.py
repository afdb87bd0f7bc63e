"""Forgetting: the one place where free text is erased and person codes are unlinked.

Both the daily retention purge (app.retention) and "forget this person" (app.people) come
here, so that what "erased" means is decided once:

* **Free text** (contact notes, referral messages and replies, bridge step notes) is set to
  NULL in the record, with its keyed digest, and in every kept version of the record
  (`record_version.fields`): nothing of it is left for the application. What it takes for
  the database *files* to lose it too is `reclaim_space`.
* **A person code is unlinked** by giving the records that carried it a random pseudonym
  instead of the code's HMAC: a pseudonym starts with "u", which no HMAC (hex) does, so no
  code typed later ever gives it back, and nobody holding the keys can find these records
  from the code. The records of one person keep one pseudonym between them, so the
  evaluation's "met at least twice" still counts them as one person and its figures do not
  move (the figures' keys come from the records, never from the code: app.evaluation.engine).

Nothing here is a change of the record in the sense of app.versions: the version and the
last change stay as they were, no history row is added, and nothing is audited here (the
callers audit what they did, with counts only, never a code).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence

from sqlalchemy import select, update

from .extensions import db
from .models import Bridge, BridgeStep, Contact, RecordVersion, Referral

PSEUDONYM_PREFIX = "u"
CHUNK = 500  # ids per statement: far below SQLite's and PostgreSQL's parameter limits

# Free text of each record type: each sealed column with the keyed digest kept beside it
# (None: none). The same names hold the sealed text in the record's kept versions
# (app.versions KINDS: `secrets`).
FREE_TEXT = {
    "contact": (Contact, {"note": None}),
    "referral": (Referral, {"message": "message_digest", "reply": None}),
    "bridge_step": (BridgeStep, {"note": "note_digest"}),
}


def new_pseudonym() -> str:
    """A random stand-in for a person code's HMAC: 64 characters like the HMAC, never hex."""
    return PSEUDONYM_PREFIX + secrets.token_hex(32)[1:]


def is_pseudonym(code_hash: str | None) -> bool:
    return bool(code_hash) and code_hash.startswith(PSEUDONYM_PREFIX)


def _chunks(ids: Sequence) -> Iterable[Sequence]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _history(record_type: str, ids: Sequence) -> list[RecordVersion]:
    rows = []
    for chunk in _chunks([str(i) for i in ids]):
        rows += db.session.scalars(select(RecordVersion).where(
            RecordVersion.record_type == record_type, RecordVersion.record_id.in_(chunk)))
    return rows


def _rewrite_history(record_type: str, ids: Sequence, change) -> int:
    """Apply `change(fields) -> fields or None` to the kept versions of the records;
    returns how many versions changed."""
    count = 0
    for row in _history(record_type, ids):
        fields = change(dict(row.fields))
        if fields is not None:
            row.fields = fields
            count += 1
    return count


def erase_free_text(record_type: str, ids: Sequence) -> Counter:
    """Erase the free text of the `record_type` records named by `ids`, and of their kept
    versions. Returns counts: values erased per column, and history versions touched."""
    model, columns = FREE_TEXT[record_type]
    ids = list(ids)
    counts: Counter = Counter()
    for column, digest in columns.items():
        attribute = getattr(model, column)
        values = {column: None}
        if digest is not None:
            values[digest] = None
        # updated_at is kept: erasing is not an activity of the record.
        values["updated_at"] = model.updated_at
        for chunk in _chunks(ids):
            result = db.session.execute(
                update(model).where(model.id.in_(chunk), attribute.is_not(None))
                .values(**values).execution_options(synchronize_session=False))
            counts[f"{record_type}.{column}"] += result.rowcount

    def without_text(fields: dict) -> dict | None:
        present = [name for name in columns if fields.get(name) is not None]
        if not present:
            return None
        for name in present:
            fields[name] = None
        return fields

    counts[f"{record_type}.history"] += _rewrite_history(record_type, ids, without_text)
    return counts


def erase_bridges_free_text(bridge_ids: Sequence) -> Counter:
    """Erase the notes of every step of the bridges named (a bridge's free text is its
    steps')."""
    step_ids = []
    for chunk in _chunks(list(bridge_ids)):
        step_ids += db.session.scalars(select(BridgeStep.id).where(
            BridgeStep.bridge_id.in_(chunk)))
    return erase_free_text("bridge_step", step_ids)


def _carrying(model, code_hash: str, ids: Sequence | None) -> list:
    """Ids of the `model` records carrying `code_hash` (among `ids` when given)."""
    where = model.person_code_hash == code_hash
    if ids is None:
        return list(db.session.scalars(select(model.id).where(where)))
    found = []
    for chunk in _chunks(list(ids)):
        found += db.session.scalars(select(model.id).where(where, model.id.in_(chunk)))
    return found


def _replaced_code(code_hash: str, pseudonym: str):
    def change(fields: dict) -> dict | None:
        if fields.get("person_code") != code_hash:
            return None
        fields["person_code"] = pseudonym
        return fields
    return change


def unlink_codes(code_hashes: Iterable[str], *, contact_ids: Sequence | None = None,
                 bridge_ids: Sequence | None = None) -> Counter:
    """Give each person code in `code_hashes` one new random pseudonym, on the contacts and
    bridges that carry it (all of them, or only those among `contact_ids` and
    `bridge_ids`), and in the contacts' kept versions. Returns counts."""
    counts: Counter = Counter()
    for code_hash in dict.fromkeys(code_hashes):
        if is_pseudonym(code_hash):
            continue
        pseudonym = new_pseudonym()
        for name, model, ids in (("contact", Contact, contact_ids),
                                 ("bridge", Bridge, bridge_ids)):
            targets = _carrying(model, code_hash, ids)
            for chunk in _chunks(targets):
                db.session.execute(
                    update(model).where(model.id.in_(chunk))
                    .values(person_code_hash=pseudonym, updated_at=model.updated_at)
                    .execution_options(synchronize_session=False))
            counts[f"{name}.code"] += len(targets)
        counts["contact.history_code"] += _rewrite_history(
            "contact", _carrying(Contact, pseudonym, contact_ids),
            _replaced_code(code_hash, pseudonym))
    return counts


def reclaim_space() -> None:
    """Make the database files lose what was erased, as far as the database allows.

    SQLite: VACUUM rewrites the file from its live rows only (freed pages and the free
    space inside pages, where an erased value still lies, are not copied), then the WAL is
    checkpointed and truncated so that no earlier page image survives in it. It waits for
    writers (busy timeout) and is quick on a database of this size; meant for a daily run.

    PostgreSQL: VACUUM marks the dead row versions' space reusable; it does not overwrite
    it, and the WAL, replicas and backups keep older images until they are recycled (see
    docs/deployment.md). It is run on the tables that hold free text or codes.
    """
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            for table in ("contact", "referral", "bridge", "bridge_step", "record_version"):
                conn.exec_driver_sql(f'VACUUM "{table}"')
