"""Files that hold secrets or records are private to the account that runs the app (0600):
the SQLite database and its -wal/-shm companions, the key ring and every temporary key file;
a key ring that group or others may read stops the app with the command that fixes it."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app import create_app, crypto
from app.crypto import KeyRing, KeyRingError

from .conftest import REDIS_URL
from .helpers import rotated_keys


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def usual_umask():
    """The umask of most servers (022): files come out 0644 unless created private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _app(tmp_path, **config):
    return create_app({"SECRET_KEY": "x", "DATA_KEYS": crypto.new_key_ring().to_dict(),
                       "RATELIMIT_STORAGE_URI": REDIS_URL or "memory://", **config})


def test_a_new_sqlite_database_and_its_wal_and_shm_are_private(tmp_path):
    path = tmp_path / "relais.db"
    with usual_umask():
        app = _app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
        assert _mode(path) == 0o600  # created before SQLAlchemy ever opens it
        with app.app_context():
            from app.extensions import db

            with db.engine.begin() as connection:
                assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
                connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
                connection.execute(sa.text("INSERT INTO t VALUES (1)"))
                companions = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
                assert all(p.exists() for p in companions)
                assert [_mode(p) for p in [path, *companions]] == [0o600] * 3
            db.engine.dispose()


def test_a_relative_sqlite_path_in_the_instance_folder_is_private(tmp_path):
    with usual_umask():
        app = _app(tmp_path, SQLALCHEMY_DATABASE_URI="sqlite:///relais-test-files.db")
        path = app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]
        try:
            assert _mode(path) == 0o600
        finally:
            os.unlink(path)


def test_an_existing_database_is_left_as_it_is(tmp_path):
    path = tmp_path / "old.db"
    path.write_bytes(b"")
    path.chmod(0o640)
    _app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    assert _mode(path) == 0o640  # an operator's choice is not changed behind their back


def test_a_new_key_ring_is_private(tmp_path):
    path = tmp_path / "keys" / "keys.json"
    with usual_umask():
        crypto.write_key_file(path, crypto.new_key_ring())
        assert _mode(path) == 0o600
        assert _mode(path.parent) == 0o700
        crypto.write_key_file(path, KeyRing.load(path).with_new_key(), overwrite=True)
    assert _mode(path) == 0o600


def _watch_replace(monkeypatch) -> list[tuple[str, int]]:
    """The temporary file's mode at the moment it replaces the key ring."""
    seen = []
    replace = os.replace

    def watching(source, target):
        seen.append((str(source), _mode(source)))
        replace(source, target)

    monkeypatch.setattr(crypto.os, "replace", watching)
    return seen


def test_a_leftover_temporary_key_file_is_never_reused(tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    crypto.write_key_file(path, crypto.new_key_ring())
    leftover = tmp_path / "keys.json.tmp"
    leftover.write_text("left by an interrupted run")
    leftover.chmod(0o644)
    seen = _watch_replace(monkeypatch)
    with usual_umask():
        crypto.write_key_file(path, KeyRing.load(path).with_new_key(), overwrite=True)
    assert seen == [(str(leftover), 0o600)]
    assert not leftover.exists() and _mode(path) == 0o600
    assert len(KeyRing.load(path).key_ids) == 2


def test_keys_rotate_recreates_a_leftover_temporary_file_private(app, world, tmp_path,
                                                                 monkeypatch):
    leftover = tmp_path / "keys.json.tmp"
    leftover.write_text("{}")
    leftover.chmod(0o666)
    seen = _watch_replace(monkeypatch)
    with usual_umask(), rotated_keys(app, tmp_path) as (_, ring, _original):
        assert _mode(tmp_path / "keys.json") == 0o600
    assert len(seen) == 2  # the ring with the new key, then the ring without the old ones
    assert all(mode == 0o600 for _, mode in seen)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_ring_open_to_group_or_others_is_refused(tmp_path, mode):
    path = tmp_path / "keys.json"
    crypto.write_key_file(path, crypto.new_key_ring())
    path.chmod(mode)
    with pytest.raises(KeyRingError) as refused:
        KeyRing.load(path)
    assert str(path) in str(refused.value)
    assert f"chmod 600 {path}" in str(refused.value)
    # The app does not start with it, whatever the command (the file exists).
    with pytest.raises(KeyRingError, match=f"chmod 600 {path}"):
        create_app({"SECRET_KEY": "x", "DATA_KEYS_FILE": str(path),
                    "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "RATELIMIT_STORAGE_URI": REDIS_URL or "memory://"})


def test_a_private_or_read_only_key_ring_loads(tmp_path):
    path = tmp_path / "keys.json"
    ring = crypto.new_key_ring()
    crypto.write_key_file(path, ring)
    assert KeyRing.load(path).key_ids == ring.key_ids
    path.chmod(0o400)
    assert KeyRing.load(path).key_ids == ring.key_ids
