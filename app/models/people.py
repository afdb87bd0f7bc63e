"""Users, their roles and their neighbourhood memberships."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    FIELD_WORKER = "field_worker"
    COORDINATOR = "coordinator"
    PARTNER = "partner"
    ADMIN = "admin"


membership = Table(
    "membership",
    db.metadata,
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    Column("neighbourhood_id", ForeignKey("neighbourhood.id", ondelete="CASCADE"),
           primary_key=True),
)


class Neighbourhood(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    commune: Mapped[str] = mapped_column(String(120))

    def __repr__(self) -> str:
        return f"<Neighbourhood {self.code}>"


class User(UserMixin, db.Model):
    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"
    __encrypted__ = ("totp_secret",)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Second factor (app.auth.two_factor): the TOTP secret, sealed like every other secret
    # (see app.crypto); set but not yet confirmed while enrolment is under way.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    # When the person confirmed the second factor with a code; None: no second factor.
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time step (30 s) whose code was accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # The language the person chose for the interface (one of LANGUAGES); None: French.
    language: Mapped[str | None] = mapped_column(String(5))
    # "light" or "dark" as the person chose; None: follow the phone's setting.
    theme: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation = relationship("Organisation")
    neighbourhoods: Mapped[list[Neighbourhood]] = relationship(
        secondary=membership, order_by=Neighbourhood.name
    )

    @property
    def is_active(self) -> bool:  # Flask-Login: deactivated accounts cannot sign in
        return self.active

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def neighbourhood_ids(self) -> set[int]:
        return {n.id for n in self.neighbourhoods}

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"
