"""record keys for the cell-key perturbation

Every contact, referral, bridge and collective action gets its fixed random key; records
that exist already get one here, drawn like the new ones (app.models.record_key).

Revision ID: 0007_record_keys
Revises: 0006_record_versions
Create Date: 2026-11-25 22:40:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_record_keys'
down_revision = '0006_record_versions'
branch_labels = None
depends_on = None

TABLES = ("contact", "referral", "bridge", "collective_action")
KEY_BITS = 32  # as app.models.record_key: a key is a whole multiple of 2**-32 in [0, 1)
CHUNK = 5000


def _fill(table: str) -> None:
    connection = op.get_bind()
    rows = sa.table(table, sa.column("id"), sa.column("record_key", sa.Double))
    ids = [row[0] for row in connection.execute(sa.select(rows.c.id))]
    update = rows.update().where(rows.c.id == sa.bindparam("row_id")) \
        .values(record_key=sa.bindparam("key"))
    for start in range(0, len(ids), CHUNK):
        connection.execute(update, [
            {"row_id": row_id, "key": secrets.randbits(KEY_BITS) / (1 << KEY_BITS)}
            for row_id in ids[start:start + CHUNK]])


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('record_key', sa.Double(), nullable=True))
        _fill(table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('record_key', existing_type=sa.Double(), nullable=False)


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('record_key')
