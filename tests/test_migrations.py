"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_no_drift_between_models_and_migrations(app):
    # The `app` fixture built the schema with `flask db upgrade` (migrations only).
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migrations_run_on_the_test_database(app):
    with app.app_context(), db.engine.connect() as connection:
        version = MigrationContext.configure(connection).get_current_revision()
    assert version is not None


def test_postgresql_connections_plan_every_query_for_its_values(tmp_path):
    """psycopg's prepared statements let PostgreSQL reuse one plan for any neighbourhoods and
    dates, which made the evaluation's queries four times slower: they are turned off."""
    from app import create_app, crypto
    from app.config import Defaults

    keys = {"DATA_KEYS": crypto.new_key_ring().to_dict(), "SECRET_KEY": "x"}
    postgres = create_app({**keys, "SQLALCHEMY_DATABASE_URI":
                           "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert postgres.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {
        "prepare_threshold": None}
    sqlite = create_app({**keys, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    assert "connect_args" not in sqlite.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert Defaults.SQLALCHEMY_ENGINE_OPTIONS == {}
