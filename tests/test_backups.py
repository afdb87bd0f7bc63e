"""Backups (issue 14, items 3 and 4): create, verify, restore, and the restore drill.

Every test runs on the suite's database (SQLite, or PostgreSQL with RELAIS_TEST_DATABASE_URL);
a restore goes into a fresh database made here: a new SQLite file, or a PostgreSQL database
named after the test database with the suffix `_restore`, created and dropped by the test.
"""

from __future__ import annotations

import base64
import stat
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from app import backups, create_app, crypto
from app.evaluation import dashboard
from app.extensions import db
from app.loaders import load_indicators, load_objectives
from app.models import AuditEvent, Contact, Neighbourhood, RecordVersion, Referral

from .conftest import DATABASE_URL
from .evaluation_data import APRIL
from .helpers import contact_payload, new_id, row_counts

POSTGRES = bool(DATABASE_URL and DATABASE_URL.startswith("postgresql"))


def _run(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


# -- a fresh, empty database to restore into ---------------------------------------------------
def _admin_engine():
    return sa.create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")


def _drop(engine, name: str) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture
def fresh(app, tmp_path):
    """A second app, with the same key ring, on a new empty database."""
    if POSTGRES:
        url = sa.engine.make_url(DATABASE_URL)
        name = f"{url.database}_restore"
        admin = _admin_engine()
        _drop(admin, name)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name).render_as_string(hide_password=False)
    else:
        target = f"sqlite:///{tmp_path / 'restored.db'}"
    config = {key: app.config[key] for key in (
        "TESTING", "SECRET_KEY", "DATA_KEYS_FILE", "RATELIMIT_STORAGE_URI",
        "TWO_FACTOR_REQUIRED_ROLES")}
    other = create_app({**config, "SQLALCHEMY_DATABASE_URI": target})
    yield other
    with other.app_context():
        db.engine.dispose()
    if POSTGRES:
        _drop(admin, name)
        admin.dispose()


# -- records with sealed text ---------------------------------------------------------------
def _notes(app, data, worker_api) -> dict[str, str]:
    """Seal free text in every place that holds some: contact notes (one changed, so that its
    earlier note is kept sealed in the record's history), referral messages and replies.
    Returns {contact id: its note}."""
    contact_id = new_id()
    assert worker_api.put(f"/contacts/{contact_id}",
                          contact_payload(note="première version")).status_code == 201
    assert worker_api.edit(f"/contacts/{contact_id}",
                           contact_payload(note="note corrigée")).status_code == 200
    notes = {contact_id: "note corrigée"}
    with app.app_context():
        for i, contact in enumerate(db.session.scalars(
                select(Contact).where(Contact.note.is_(None)))):
            contact.set_note(f"note {i} de la maraude")
            notes[str(contact.id)] = f"note {i} de la maraude"
        for referral in db.session.scalars(select(Referral)):
            referral.set_message("Bonjour, nous vous orientons …")
            referral.set_reply("Reçu, merci")
        load_objectives()
        load_indicators()
        db.session.commit()
    return notes


def _figures(app) -> dict:
    """The dashboard of Colignon and Brabant in April 2026, as team and as published figures,
    through the app's own dashboard code (kept monthly blocks)."""
    with app.app_context():
        places = list(db.session.scalars(select(Neighbourhood).where(
            Neighbourhood.code.in_(["colignon", "brabant"])).order_by(Neighbourhood.code)))
        out = {}
        for perturbed in (False, True):
            board = dashboard.build(places, APRIL, perturbed=perturbed)
            table = board.situation_neighbourhood
            out[perturbed] = (
                [(f.indicator.code, f.current, f.previous) for f in board.figures],
                [(m.start, cell) for m, cell in board.people_by_month],
                board.theme_month, board.outcome_category,
                (table.row_keys, [n.code for n in table.col_keys], table.cells,
                 table.row_totals, table.col_totals, table.total))
        assert out[False][0], "no indicator loaded: the comparison would be empty"
        db.session.remove()
        return out


def _restored_notes(app, ids) -> dict[str, str]:
    with app.app_context():
        found = db.session.scalars(select(Contact).where(
            Contact.id.in_([uuid.UUID(i) for i in ids])))
        notes = {str(c.id): c.read_note() for c in found}
        db.session.remove()
        return notes


# -- create / verify / restore ---------------------------------------------------------------
def test_round_trip_create_verify_restore(app, data, worker_api, fresh, tmp_path):
    notes = _notes(app, data, worker_api)
    before = _figures(app)
    path = tmp_path / "relais.backup"
    result = _run(app, "backup", "create", path)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert app.config["DATA_KEYS_FILE"] in result.output and "NOT in it" in result.output
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "backup_created")).one()
        assert event.detail["bytes"] == path.stat().st_size
        assert event.detail["format"] == ("pg_dump-custom" if POSTGRES else "sqlite")

    result = _run(app, "backup", "verify", path)
    assert result.exit_code == 0, result.output
    assert "contact.note: " in result.output and "0 unreadable" in result.output
    assert "record_version.fields[contact.note]: 2 read, 0 unreadable" in result.output
    assert "referral.reply: " in result.output and "Backup readable." in result.output

    result = _run(fresh, "backup", "restore", path)
    assert result.exit_code == 0, result.output
    assert _restored_notes(fresh, notes) == notes
    assert row_counts(fresh)["record_version"] == row_counts(app)["record_version"]
    assert _figures(fresh) == before
    with fresh.app_context():
        # The copy was taken before its own audit event was written.
        assert db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("backup_%"))).all() == ["backup_restored"]
        history = db.session.scalars(select(RecordVersion)).all()
        assert any(v.fields.get("note") for v in history)


def test_verify_reports_what_another_key_ring_cannot_open(app, data, worker_api, tmp_path):
    _notes(app, data, worker_api)
    path = tmp_path / "relais.backup"
    assert _run(app, "backup", "create", path).exit_code == 0
    other = tmp_path / "other-keys.json"
    crypto.write_key_file(other, crypto.new_key_ring())
    result = _run(app, "backup", "verify", path, "--keys", other)
    assert result.exit_code == 1
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines()}
    assert "0 read" in lines["contact.note"] and "UNREADABLE" in lines["contact.note"]
    assert "UNREADABLE" in lines["referral.message"]
    assert "UNREADABLE" in lines["record_version.fields[contact.note]"]
    assert "Backup readable." not in result.output


def test_verify_refuses_another_revision(app, world, tmp_path, monkeypatch):
    path = tmp_path / "relais.backup"
    assert _run(app, "backup", "create", path).exit_code == 0
    with app.app_context():
        real = backups.code_revision()
    # The code moved on (one migration more): the backup is one revision behind.
    monkeypatch.setattr(backups, "code_revision", lambda: "f00dcafe0001")
    result = _run(app, "backup", "verify", path)
    assert result.exit_code == 1
    assert f"revision {real}, the code's f00dcafe0001 — DIFFERENT" in result.output
    assert "db upgrade" in result.output


def test_create_refuses_to_overwrite_unless_forced(app, world, tmp_path):
    path = tmp_path / "relais.backup"
    path.write_bytes(b"an older backup")
    result = _run(app, "backup", "create", path)
    assert result.exit_code != 0 and "--force" in result.output
    assert path.read_bytes() == b"an older backup"
    result = _run(app, "backup", "create", path, "--force")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() != b"an older backup"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_backup_leaves_no_file(app, world, tmp_path, monkeypatch):
    def broken(*args):
        raise backups.BackupError("disk full")

    monkeypatch.setattr(backups, "_sqlite_copy", broken)
    monkeypatch.setattr(backups, "_pg_dump", broken)
    result = _run(app, "backup", "create", tmp_path / "relais.backup")
    assert result.exit_code != 0 and "disk full" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_backup_holds_no_key_material(app, data, worker_api, tmp_path):
    _notes(app, data, worker_api)
    path = tmp_path / "relais.backup"
    assert _run(app, "backup", "create", path).exit_code == 0
    content = path.read_bytes()
    ring = app.extensions["relais_keyring"]
    secrets = [*(k["key"] for k in ring.to_dict()["data_keys"]), ring.to_dict()["pepper"]]
    for encoded in secrets:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        for form in (encoded.encode(), base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="),
                     raw, raw.hex().encode()):
            assert form not in content
    assert b"data_keys" not in content and b"pepper" not in content


def test_restore_refuses_a_database_that_is_not_empty(app, world, tmp_path):
    path = tmp_path / "relais.backup"
    assert _run(app, "backup", "create", path).exit_code == 0
    counts = row_counts(app)
    result = _run(app, "backup", "restore", path)
    assert result.exit_code != 0
    assert "not empty" in result.output and "nothing was written" in result.output
    assert row_counts(app) == counts


def test_missing_postgresql_tools_are_named_with_their_package(app, world, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(backups.shutil, "which", lambda name: None)
    if POSTGRES:
        result = _run(app, "backup", "create", tmp_path / "relais.backup")
        assert "pg_dump is not installed" in result.output
        assert list(tmp_path.iterdir()) == []
    else:
        dump = tmp_path / "relais.dump"
        dump.write_bytes(b"PGDMP\x01\x0f")  # what a custom-format dump starts with
        result = _run(app, "backup", "verify", dump)
        assert "pg_restore is not installed" in result.output
    assert result.exit_code != 0
    assert "apt-get install postgresql-client" in result.output


def test_a_pg_dump_older_than_the_server_is_refused(app, world, tmp_path, monkeypatch):
    old = tmp_path / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o700)
    # The rule itself, whatever database this run has: a tool older than the server.
    monkeypatch.setattr(backups, "_server_major", lambda: 15)
    with pytest.raises(backups.BackupError, match="pg_dump is version 9, older than the server"):
        backups._tool_not_older_than_server(str(old))
    monkeypatch.setattr(backups, "_server_major", lambda: 9)
    backups._tool_not_older_than_server(str(old))  # the same major: accepted
    if POSTGRES:
        # And the command, against the real server's version: refused, no file left.
        monkeypatch.undo()
        monkeypatch.setattr(backups.shutil, "which", lambda name: str(old))
        result = _run(app, "backup", "create", tmp_path / "relais.backup")
        assert result.exit_code != 0
        assert "pg_dump is version 9, older than the server" in result.output
        assert not (tmp_path / "relais.backup").exists()


def test_libpq_url_keeps_the_password_out_of_the_command_line():
    url = sa.engine.make_url("postgresql+psycopg://relais:s3cret@db.local:5433/relais")
    target, env = backups.libpq(url)
    assert target == "postgresql://relais@db.local:5433/relais"
    assert env["PGPASSWORD"] == "s3cret"


# -- the restore drill (issue 14, item 4) ------------------------------------------------------
class Writer(threading.Thread):
    """Records written by a colleague's phone while the backup runs: contacts with notes in
    Marolles, this month (outside the compared dashboard), each id kept once committed."""

    def __init__(self, app, world):
        super().__init__(daemon=True)
        self.app, self.world = app, world
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            with self.app.app_context():
                while not self.stop.is_set():
                    contact = Contact(id=uuid.uuid4(), neighbourhood_id=self.world.marolles.id,
                                      author_id=self.world.outsider.id,
                                      occurred_at=datetime.now(UTC), people_count=1)
                    contact.set_note(f"écrit pendant la sauvegarde {len(self.acked)}")
                    db.session.add(contact)
                    db.session.commit()
                    self.acked.append(str(contact.id))  # acknowledged: committed
                db.session.remove()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the writer did not write"
            time.sleep(0.005)


def test_restore_drill(app, data, worker_api, fresh, tmp_path, monkeypatch):
    notes = _notes(app, data, worker_api)
    figures = _figures(app)
    writer = Writer(app, data)
    during: list[str] = []
    if not POSTGRES:
        # Copy one page per step, and let the writer commit a few records in the middle of
        # the copy: they come after its snapshot, so they must not be in it.
        monkeypatch.setattr(backups, "SQLITE_STEP_PAGES", 1)

        def in_the_middle(status, remaining, total):
            if not during:
                during.append(str(len(writer.acked)))
                writer.wait_for(len(writer.acked) + 3)

        monkeypatch.setattr(backups, "_progress", in_the_middle)
    writer.start()
    try:
        writer.wait_for(5)
        acknowledged = list(writer.acked)  # committed before the backup began
        path = tmp_path / "drill.backup"
        result = _run(app, "backup", "create", path)
        assert result.exit_code == 0, result.output
        assert len(writer.acked) > len(acknowledged)  # records were written meanwhile
        writer.wait_for(len(writer.acked) + 2)  # still writing after the backup ended
    finally:
        writer.stop.set()
        writer.join(10)
    assert writer.error is None, writer.error
    assert _figures(app) == figures  # the writes fell outside the compared dashboard

    result = _run(fresh, "backup", "restore", path)
    assert result.exit_code == 0, result.output
    expected = {i: f"écrit pendant la sauvegarde {n}" for n, i in enumerate(writer.acked)}
    restored = _restored_notes(fresh, list(expected))
    # Every record acknowledged before the backup began is there, its note readable …
    assert all(restored.get(i) == expected[i] for i in acknowledged)
    # … and the copy is one moment of the database: the writer's first records, no gap.
    assert set(restored) == set(writer.acked[:len(restored)])
    assert len(restored) < len(writer.acked)
    if during:  # SQLite: records committed while the copy was made, after its snapshot,
        # are not in it (one more than counted may have been committed, not yet counted)
        assert len(restored) <= int(during[0]) + 1
    assert _restored_notes(fresh, notes) == notes
    assert _figures(fresh) == figures
    result = _run(fresh, "backup", "verify", path, "--sample", 0)
    assert result.exit_code == 0, result.output


def test_copy_text_of_a_dump_is_read_back_exactly():
    # pg_restore writes data as COPY text: backslash escapes (of bytes), \N for null.
    assert backups._copy_value(rb"\N") is None
    assert backups._copy_value(rb'{"place": "rue \\"Haute\\"", "n": "a\tb\\\\c"}') == \
        '{"place": "rue \\"Haute\\"", "n": "a\tb\\\\c"}'
    assert backups._copy_value("café \\303\\251 \\x41\\n".encode()) == "café é A\n"
