"""Small helpers shared by the tests."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from app import crypto
from app.extensions import db


def new_id() -> str:
    return str(uuid.uuid4())


def moment(minutes_ago: int = 5) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def contact_payload(**overrides) -> dict:
    payload = {
        "neighbourhood": "colignon",
        "occurred_at": moment(),
        "place_type": "rue",
        "initiative": "aller_vers",
        "people_count": 2,
        "age_band": "25_34",
        "gender": "femme",
        "languages": ["fr", "ar"],
        "situations": ["risque_perte_logement"],
        "themes": ["logement", "expulsion"],
        "responses": ["ecoute", "information"],
    }
    payload.update(overrides)
    return payload


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t))
                for t in db.metadata.sorted_tables}


@contextmanager
def rotated_keys(app, tmp_path):
    """Run `flask keys rotate` on a copy of the test key ring; yields (result, new ring,
    original ring) and puts the test ring back afterwards."""
    path = tmp_path / "keys.json"
    original = app.extensions["relais_keyring"]
    crypto.write_key_file(path, original)
    app.config["DATA_KEYS_FILE"], saved = str(path), app.config["DATA_KEYS_FILE"]
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        ring = crypto.KeyRing.load(path)
        assert ring.current.key_id != original.current.key_id
        yield result, ring, original
    finally:
        app.config["DATA_KEYS_FILE"] = saved
        app.extensions["relais_keyring"] = original


def published(records, weight=lambda record: 1) -> int:
    """A figure as it leaves the team, worked out here from the records themselves: the
    weighted count perturbed by the fractional part of the sum of weight × record key."""
    from app.evaluation.perturbation import Tally, table
    from app.models.record_key import KEY_UNITS

    n = sum(weight(r) for r in records)
    keys = sum(weight(r) * int(r.record_key * KEY_UNITS) for r in records)
    return table().perturbed(Tally(n, keys))


def assert_gone_from_the_files(app, sealed: list[str], erase) -> None:
    """`erase()` must leave none of the `sealed` values (as stored) in the database files.

    SQLite: the values are in the database file or its WAL before, and in neither after.
    PostgreSQL: VACUUM marks dead rows' space reusable but cannot promise the bytes are
    overwritten (docs/deployment.md); what an erasure owes there is that VACUUM ran."""
    import time
    from pathlib import Path

    from sqlalchemy import text

    assert sealed and all(sealed)
    with app.app_context():
        dialect = db.engine.dialect.name
        db.session.remove()
    if dialect == "sqlite":
        path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))

        def stored() -> bytes:
            return b"".join(f.read_bytes() for f in (path, Path(f"{path}-wal")) if f.exists())

        before = stored()
        assert all(value.encode() in before for value in sealed)  # so the check means it
        erase()
        after = stored()
        assert not any(value.encode() in after for value in sealed)
        return
    assert dialect == "postgresql"

    def vacuums() -> int:
        with app.app_context(), db.engine.connect() as conn:
            return conn.execute(text("SELECT vacuum_count FROM pg_stat_user_tables "
                                     "WHERE relname = 'record_version'")).scalar()

    before = vacuums()
    erase()
    for _ in range(50):  # the statistics arrive asynchronously
        if vacuums() > before:
            return
        time.sleep(0.1)
    raise AssertionError("no VACUUM ran after the erasure")


def figures(app, world, since: date | None = None) -> dict:
    """Every active indicator's raw figure (counts with their keys) over the worker's two
    neighbourhoods, from `since` (default: the first of January last year) to today: what
    an erasure must leave exactly as it was."""
    from app.evaluation import engine
    from app.evaluation.dashboard import active_indicators
    from app.loaders import (
        DEFAULT_INDICATORS,
        DEFAULT_OBJECTIVES,
        load_indicators,
        load_objectives,
    )

    today = date.today()
    with app.app_context():
        if not active_indicators():
            load_objectives(DEFAULT_OBJECTIVES)
            load_indicators(DEFAULT_INDICATORS)
            db.session.commit()
        result = engine.compute(active_indicators(), [world.colignon.id, world.brabant.id],
                                engine.Period(since or date(today.year - 1, 1, 1), today))
        db.session.remove()
        return result
