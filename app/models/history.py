"""Record versions and their kept history (DESIGN §5 "Versions and conflicts").

Every record a person edits carries an integer `version`. It is also SQLAlchemy's version
counter, so an UPDATE only lands `WHERE version = <the version read>`: two writers who read
the same version cannot both commit, the second one is retried and merged (app.versions).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Versioned:
    """Mixin: the `version` column, checked on every UPDATE and bumped by app.versions."""

    version: Mapped[int] = mapped_column(default=1, server_default=text("1"))

    @declared_attr.directive
    def __mapper_args__(cls):
        # The application sets the next version itself (only when a field really changes),
        # the ORM still adds "AND version = <read>" to each UPDATE and raises when it lost.
        return {"version_id_col": cls.__table__.c.version, "version_id_generator": False}


class RecordVersion(db.Model):
    """The fields of one version of one record, as they were.

    `fields` holds the values of the record's versioned fields; free text stays sealed
    (AES-GCM, bound to this history row: record type, id and version), a person code stays
    an HMAC. `changed` names the fields that differ from the version before (null for the
    version a record was created with). Rows are written by app.versions only.
    """

    __tablename__ = "record_version"
    __table_args__ = (
        Index("uq_record_version", "record_type", "record_id", "version", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_type: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column()
    neighbourhood_id: Mapped[int | None] = mapped_column(
        ForeignKey("neighbourhood.id", ondelete="SET NULL"), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"))
    # How the change came: "api", "page", "merge", "overwrite", "status", "import", …
    via: Mapped[str | None] = mapped_column(String(20))
    changed: Mapped[list | None] = mapped_column(JSON)
    fields: Mapped[dict] = mapped_column(JSON)
