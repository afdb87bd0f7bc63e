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
