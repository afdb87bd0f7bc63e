"""Backups: `flask --app app backup create|verify|restore` (see docs/deployment.md).

* `create PATH` copies the database while the app serves: SQLite through its online backup
  API, reading one snapshot (a read transaction held for the whole copy, so writes made
  meanwhile are either wholly in the copy or not at all); PostgreSQL through `pg_dump
  --format=custom`, which reads one snapshot too. The copy is written to a private (0600)
  temporary file beside PATH and renamed only when complete.
* The key ring and the person-code pepper live outside the database (instance/keys.json or
  FLASK_DATA_KEYS) and are never in a backup: the copy is unreadable without them, and they
  are useless without a copy, so the two are kept apart.
* `verify PATH` opens the copy without restoring it, compares its migration revision with the
  code's and decrypts a sample of every sealed column (and of the sealed free text kept in
  record history) with the current key ring.
* `restore PATH` writes the copy into the configured database, which must be empty, checks
  the revision and rebuilds the evaluation's kept figures.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Uuid, inspect, text
from sqlalchemy.engine import URL, make_url

from . import audit, crypto, versions
from .extensions import db

backup_cli = AppGroup("backup", help="Backups of the database: create, verify, restore.")

SQLITE_STEP_PAGES = 256  # pages copied per step of SQLite's online backup
HISTORY_COLUMNS = ("record_type", "record_id", "version", "fields", "changed_at")
NEWEST = 10  # the newest values of each column are always among those verify opens
CLIENT_PACKAGE = "postgresql-client"


class BackupError(click.ClickException):
    """A backup command that cannot go on; nothing was written."""


# -- the configured database -------------------------------------------------------------------
def _url() -> URL:
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def _kind(url: URL) -> str:
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise BackupError("the database is not a plain SQLite file: nothing to back up")
        return "sqlite"
    if backend == "postgresql":
        return "postgresql"
    raise BackupError(f"backups of {backend} databases are not supported")


def libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq URL of a SQLAlchemy PostgreSQL URL, without its password, and the
    environment that gives the password to pg_dump/pg_restore (never on a command line,
    where `ps` shows it, nor in anything printed)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed: on Debian or Ubuntu `apt-get install {CLIENT_PACKAGE}` "
            "(its major version must be the server's or newer; PostgreSQL's own apt "
            "repository has every version)")
    return path


def _tool(args: list[str], **options) -> subprocess.CompletedProcess:
    """Run a PostgreSQL client tool: found by shutil.which, given a list (no shell), and its
    password, if any, only through the environment."""
    return subprocess.run(args, check=False, **options)  # noqa: S603


def _major(version_text: str) -> int:
    found = re.search(r"(\d+)(?:\.\d+)?", version_text)
    if not found:
        raise BackupError(f"cannot read the version of the PostgreSQL tools: {version_text!r}")
    return int(found.group(1))


def _server_major() -> int:
    """The PostgreSQL server's major version."""
    major = int(db.session.scalar(text("SHOW server_version_num"))) // 10000
    db.session.rollback()
    return major


def _tool_not_older_than_server(tool: str) -> None:
    """pg_dump and pg_restore refuse, or worse misread, a server newer than themselves."""
    shown = _tool([tool, "--version"], capture_output=True, text=True)
    mine = _major(shown.stdout)
    server = _server_major()
    if mine < server:
        name = Path(tool).name
        raise BackupError(
            f"{name} is version {mine}, older than the server (PostgreSQL {server}): install "
            f"{CLIENT_PACKAGE}-{server} or newer (`apt-get install {CLIENT_PACKAGE}-{server}`, "
            "from PostgreSQL's apt repository when your distribution lacks it)")


def _keys_place() -> str:
    if current_app.config.get("DATA_KEYS"):
        return "the FLASK_DATA_KEYS setting"
    return str(current_app.config["DATA_KEYS_FILE"])


# -- alembic revisions -------------------------------------------------------------------------
def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(current_app.extensions["migrate"].directory)


def code_revision() -> str:
    return _scripts().get_current_head()


def _revision_state(revision: str | None) -> str:
    """'current', 'older' (the code can upgrade it) or 'unknown' (not this code's)."""
    head = code_revision()
    if revision == head:
        return "current"
    known = {script.revision for script in _scripts().walk_revisions()}
    return "older" if revision in known else "unknown"


# -- create ------------------------------------------------------------------------------------
def _progress(status: int, remaining: int, total: int) -> None:
    """Called after every step of a SQLite copy (the restore drill test listens here)."""


def _sqlite_copy(source: str, dest: Path) -> None:
    """Copy the live SQLite database into `dest` (an empty private file) from one snapshot."""
    from . import SQLITE_BUSY_TIMEOUT_MS

    src = sqlite3.connect(source, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(dest)
    try:
        # The read transaction fixes the snapshot the copy holds: in WAL mode the app keeps
        # writing meanwhile, and the copy, made in steps, never mixes two states.
        src.execute("BEGIN")
        src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        src.backup(dst, pages=SQLITE_STEP_PAGES, progress=_progress, sleep=0)
        src.execute("COMMIT")
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside
        problem = dst.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"the copy does not pass SQLite's check: {problem}")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy the database: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _pg_dump(url: URL, dest: Path) -> None:
    tool = _pg_tool("pg_dump")
    _tool_not_older_than_server(tool)
    target, env = libpq(url)
    with open(dest, "wb") as out:  # the private file made beside PATH: pg_dump writes into it
        done = _tool([tool, "--format=custom", f"--dbname={target}"], stdout=out,
                     stderr=subprocess.PIPE, env=env)
        out.flush()
        os.fsync(out.fileno())
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed (exit {done.returncode}): "
                          f"{done.stderr.decode(errors='replace').strip()}")


def _same_file(a: Path, b: str | None) -> bool:
    return bool(b) and os.path.abspath(a) == os.path.abspath(b)


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a file already at PATH.")
def backup_create(path: Path, force: bool):
    """Copy the database into PATH while the app keeps serving (never the key ring)."""
    url = _url()
    kind = _kind(url)
    source = url.database if kind == "sqlite" else None
    if _same_file(path, current_app.config["DATA_KEYS_FILE"]) or _same_file(path, source):
        raise BackupError(f"{path} is the key file or the database itself: choose another path")
    if path.exists() and not force:
        raise BackupError(f"{path} already exists: choose another name, or add --force to "
                          "replace it")
    if not path.parent.is_dir():
        raise BackupError(f"folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    os.close(crypto._create_private(tmp))  # 0600 whatever the umask, like the key file
    try:
        if kind == "sqlite":
            _sqlite_copy(source, tmp)
        else:
            _pg_dump(url, tmp)
        os.replace(tmp, path)  # only a complete copy ever takes the name PATH
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    crypto._sync_directory(path.parent)
    size = path.stat().st_size
    fmt = "sqlite" if kind == "sqlite" else "pg_dump-custom"
    audit.record_now("backup_created", object_type="backup",
                     detail={"format": fmt, "bytes": size, "revision": code_revision()})
    click.echo(f"Backup written: {path} ({fmt}, {size} bytes).")
    click.echo(f"The key ring and the person-code pepper are NOT in it: they are in "
               f"{_keys_place()}. Keep a copy of them apart from the backups (a backup "
               "cannot be read without them).")
    click.echo(f"Check it now: flask --app app backup verify {path}")


# -- reading a copy without restoring it -------------------------------------------------------
@dataclass
class Column:
    """The values of one sealed column found in a copy, and what opening them gave."""

    name: str
    values: int = 0
    read: int = 0
    unreadable: int = 0
    missing: str | None = None  # why the column could not be looked at, if it could not

    @property
    def ok(self) -> bool:
        return self.missing is None and self.unreadable == 0


class _Copy:
    revision: str | None

    def rows(self, table: str, columns: list[str]) -> Iterator[tuple]:
        raise NotImplementedError


class _SQLiteCopy(_Copy):
    def __init__(self, path: Path):
        try:
            self.conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
            self.tables = {r[0] for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
        self.revision = None
        if "alembic_version" in self.tables:
            found = self.conn.execute("SELECT version_num FROM alembic_version").fetchone()
            self.revision = found[0] if found else None

    def rows(self, table, columns):
        if table not in self.tables:
            raise LookupError(f"no table {table} in the copy")
        quoted = ", ".join(f'"{c}"' for c in columns)
        yield from self.conn.execute(f'SELECT {quoted} FROM "{table}"')  # noqa: S608


_COPY_HEADER = re.compile(r'^COPY (?:"?[\w]+"?\.)?"?(\w+)"? \((.*)\) FROM stdin;$')
_COPY_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_COPY_CHARS = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _copy_value(raw: bytes) -> str | None:
    """One field of PostgreSQL's COPY text format (escapes stand for bytes: decoded after)."""
    if raw == rb"\N":
        return None

    def one(match: re.Match) -> bytes:
        code = match.group(1)
        if code[:1] == b"x" and len(code) > 1:
            return bytes([int(code[1:], 16)])
        if code[:1] in b"01234567" and code[:1]:
            return bytes([int(code, 8) & 0xFF])
        return _COPY_CHARS.get(code, code)

    return _COPY_ESCAPE.sub(one, raw).decode("utf-8")


class _PostgresCopy(_Copy):
    """A custom-format dump read through `pg_restore --data-only -f -`: the data of the few
    tables verify needs, as COPY text, parsed here as it streams (only the columns asked for
    are kept). Nothing is restored anywhere, so verify needs no database, no CREATEDB right
    and leaves no trace on a server."""

    def __init__(self, path: Path, wanted: dict[str, list[str]]):
        wanted = {"alembic_version": ["version_num"], **wanted}
        args = [_pg_tool("pg_restore"), "--data-only", "--file=-"]
        args += [f"--table={t}" for t in wanted]
        self.data: dict[str, tuple[list[str], list[tuple]]] = {}
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen([*args, str(path)], stdout=subprocess.PIPE,  # noqa: S603
                                       stderr=errors)
            current = positions = None
            for raw in process.stdout:
                line = raw.rstrip(b"\n")
                if current is None:
                    header = _COPY_HEADER.match(line.decode("utf-8"))
                    if header and header.group(1) in wanted:
                        names = [c.strip().strip('"') for c in header.group(2).split(",")]
                        keep = [c for c in wanted[header.group(1)] if c in names]
                        positions = [names.index(c) for c in keep]
                        current = self.data.setdefault(header.group(1), (keep, []))[1]
                elif line == rb"\.":
                    current = None
                else:
                    values = line.split(b"\t")
                    current.append(tuple(_copy_value(values[i]) for i in positions))
            if process.wait() != 0:
                errors.seek(0)
                raise BackupError(f"pg_restore cannot read {path} (exit {process.returncode}): "
                                  f"{errors.read().decode(errors='replace').strip()}")
        names, rows = self.data.get("alembic_version", ([], []))
        self.revision = rows[0][0] if rows and names else None

    def rows(self, table, columns):
        if table not in self.data:
            raise LookupError(f"no data of table {table} in the copy")
        names, rows = self.data[table]
        missing = [c for c in columns if c not in names]
        if missing:
            raise LookupError(f"no column {', '.join(missing)} in table {table} of the copy")
        positions = [names.index(c) for c in columns]
        for row in rows:
            yield tuple(row[p] for p in positions)


def _is_sqlite_file(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _row_id(model, raw):
    if isinstance(model.__table__.c.id.type, Uuid):
        return uuid.UUID(str(raw))
    return int(raw) if isinstance(raw, str) and raw.isdigit() else raw


def _sample(rows: list, size: int) -> list:
    """The newest rows (rows sorted oldest first), then others drawn at random; all of them
    when size is 0."""
    if size <= 0 or len(rows) <= size:
        return rows
    newest = min(NEWEST, size)
    older = rows[:-newest]
    return rows[-newest:] + random.sample(older, size - newest)


def _open_all(column: Column, pairs: list, ring: crypto.KeyRing) -> None:
    for token, aad in pairs:
        try:
            ring.decrypt(token, aad)
            column.read += 1
        except crypto.DecryptionError:
            column.unreadable += 1


def check_copy(copy: _Copy, ring: crypto.KeyRing, sample: int) -> list[Column]:
    """Open a sample of every sealed column of the copy, and of the free text sealed in its
    record history; one Column per place, in a stable order."""
    from .models import encrypted_columns

    report = []
    for model, name in sorted(encrypted_columns(), key=lambda p: (p[0].__tablename__, p[1])):
        table = model.__tablename__
        column = Column(f"{table}.{name}")
        try:
            found = [(r[2] or "", r[0], r[1]) for r in copy.rows(
                table, ["id", name, "created_at"]) if r[1] is not None]
        except (LookupError, sqlite3.Error) as exc:
            column.missing = str(exc)
            report.append(column)
            continue
        found.sort(key=lambda r: r[0])
        column.values = len(found)
        _open_all(column, [(token, crypto.associated_data(table, name, _row_id(model, rid)))
                           for _, rid, token in _sample(found, sample)], ring)
        report.append(column)
    report.extend(_check_history(copy, ring, sample))
    return report


def _check_history(copy: _Copy, ring: crypto.KeyRing, sample: int) -> list[Column]:
    kinds = sorted((k for k in versions.KINDS.values() if k.secrets), key=lambda k: k.name)
    found: dict[tuple[str, str], list] = {(k.name, s): [] for k in kinds for s in sorted(k.secrets)}
    try:
        rows = list(copy.rows("record_version", list(HISTORY_COLUMNS)))
    except (LookupError, sqlite3.Error) as exc:
        return [Column(f"record_version.fields[{k}.{s}]", missing=str(exc)) for k, s in found]
    for record_type, record_id, version, fields, changed_at in rows:
        kind = versions.KINDS_BY_NAME.get(record_type)
        if kind is None or not kind.secrets or fields is None:
            continue
        values = json.loads(fields) if isinstance(fields, str) else fields
        for name in kind.secrets:
            token = values.get(name)
            if token is not None:
                aad = versions._history_aad(kind, record_id, int(version), name)
                found[kind.name, name].append((changed_at or "", token, aad))
    report = []
    for (kind_name, name), values in found.items():
        column = Column(f"record_version.fields[{kind_name}.{name}]", values=len(values))
        values.sort(key=lambda v: v[0])
        _open_all(column, [(token, aad) for _, token, aad in _sample(values, sample)], ring)
        report.append(column)
    return report


def _open_copy(path: Path) -> tuple[str, _Copy]:
    from .models import encrypted_columns

    if _is_sqlite_file(path):
        return "sqlite", _SQLiteCopy(path)
    wanted: dict[str, list[str]] = {}
    for model, column in encrypted_columns():
        wanted.setdefault(model.__tablename__, ["id", "created_at"]).append(column)
    wanted["record_version"] = list(HISTORY_COLUMNS)
    return "pg_dump-custom", _PostgresCopy(path, wanted)


@backup_cli.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--sample", default=50, show_default=True,
              help="Values opened per column (the newest always among them); 0 opens all.")
@click.option("--keys", "keys_file", type=click.Path(exists=True, dir_okay=False),
              help="A key file to open the values with (default: the app's key ring).")
def backup_verify(path: Path, sample: int, keys_file: str | None):
    """Open a backup: its migration revision, and a sample of every encrypted column."""
    ring = crypto.KeyRing.load(keys_file) if keys_file else crypto.keyring()
    fmt, copy = _open_copy(path)
    head = code_revision()
    state = _revision_state(copy.revision)
    click.echo(f"Backup {path} ({fmt}): revision {copy.revision or 'none'}, the code's "
               f"{head}{'' if state == 'current' else ' — DIFFERENT'}")
    if state == "older":
        click.echo("  The backup is older than the code: after a restore, run "
                   "`flask --app app db upgrade`.")
    report = check_copy(copy, ring, sample)
    for column in report:
        if column.missing:
            click.echo(f"  {column.name}: NOT CHECKED ({column.missing})")
        else:
            flag = "" if column.ok else "  <- UNREADABLE with this key ring"
            click.echo(f"  {column.name}: {column.read} read, {column.unreadable} unreadable "
                       f"(of {column.values} values){flag}")
    bad = [c for c in report if not c.ok]
    if bad or state != "current":
        raise SystemExit(1)
    click.echo("Backup readable.")


# -- restore -----------------------------------------------------------------------------------
def _tables_in_target() -> list[str]:
    return sorted(inspect(db.engine).get_table_names())


def recompute_after_restore() -> int:
    from .cli import recompute_figures

    return recompute_figures()


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_restore(path: Path):
    """Restore a backup into the configured database, which must be empty."""
    url = _url()
    kind = _kind(url)
    fmt, copy = _open_copy(path)
    if (fmt == "sqlite") != (kind == "sqlite"):
        raise BackupError(f"{path} is a {fmt} backup and the database is {kind}: a backup is "
                          "restored into the same kind of database")
    state = _revision_state(copy.revision)
    if state == "unknown":
        raise BackupError(f"the backup's revision {copy.revision or 'none'} is not known to "
                          "this code (a newer release made it?): nothing restored")
    found = _tables_in_target()
    db.session.remove()
    if found:
        shown = ", ".join(found[:5]) + (", …" if len(found) > 5 else "")
        raise BackupError(f"the database is not empty ({len(found)} tables: {shown}): "
                          "restore into a new, empty database; nothing was written")
    if kind == "sqlite":
        _sqlite_restore(path, url.database)
    else:
        _pg_restore(path, url)
    db.engine.dispose()  # connections opened before the restore saw an empty database
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        restored = MigrationContext.configure(connection).get_current_revision()
    if _revision_state(restored) != "current":
        click.echo(f"Restored {path}, at revision {restored}; the code is at "
                   f"{code_revision()}. Now run `flask --app app db upgrade`, then "
                   "`flask --app app evaluation recompute`.")
        raise SystemExit(1)
    count = recompute_after_restore()
    audit.record_now("backup_restored", object_type="backup",
                     detail={"format": fmt, "revision": restored, "blocks": count})
    click.echo(f"Restored {path} ({fmt}) at revision {restored}; {count} monthly blocks of "
               "figures computed and kept.")
    click.echo(f"Notes open with the key ring in {_keys_place()}: check with "
               "`flask --app app backup verify` on the backup if in doubt.")


def _sqlite_restore(path: Path, target: str) -> None:
    db.engine.dispose()
    src = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not restore {path}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _pg_restore(path: Path, url: URL) -> None:
    tool = _pg_tool("pg_restore")
    _tool_not_older_than_server(tool)
    db.session.remove()
    target, env = libpq(url)
    # One transaction: a restore that fails leaves the database as empty as it was.
    done = _tool([tool, "--no-owner", "--no-privileges", "--single-transaction",
                  "--exit-on-error", f"--dbname={target}", str(path)],
                 capture_output=True, env=env)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed (exit {done.returncode}); nothing restored: "
                          f"{done.stderr.decode(errors='replace').strip()}")
