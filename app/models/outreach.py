"""Outings (sorties) and the contacts recorded during field work."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import crypto
from ..extensions import db
from .history import Versioned
from .people import Neighbourhood, User
from .record_key import RecordKeyed
from .types import UTCDateTime, utcnow

outing_team = Table(
    "outing_team",
    db.metadata,
    Column("outing_id", ForeignKey("outing.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)


class Outing(Versioned, db.Model):
    __table_args__ = (
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ends_after_start"),
        Index("ix_outing_neighbourhood_started", "neighbourhood_id", "started_at"),
    )

    # Client-generated so that a phone can create it offline (DESIGN §2).
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhood.id"),
                                                  active_history=True)
    kind: Mapped[str] = mapped_column(String(40))  # outing_kind term code
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, active_history=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    place_label: Mapped[str | None] = mapped_column(String(80))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    neighbourhood: Mapped[Neighbourhood] = relationship()
    created_by: Mapped[User] = relationship()
    team: Mapped[list[User]] = relationship(secondary=outing_team, order_by=User.display_name)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class ContactTerm(db.Model):
    """One value of a multi-valued vocabulary field of a contact (themes, situations, …)."""

    __tablename__ = "contact_term"
    __table_args__ = (
        ForeignKeyConstraint(
            ["vocabulary", "code"], ["term.vocabulary", "term.code"], name="fk_contact_term_term"
        ),
        # "Contacts with theme X" read from the index alone (the indicators' filters).
        Index("ix_contact_term_vocabulary_code", "vocabulary", "code", "contact_id"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True
    )
    vocabulary: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class HasTerms:
    """Multi-valued vocabulary fields kept as rows of a `term_class` table in `terms`."""

    term_class: type

    def codes(self, vocabulary: str) -> list[str]:
        return [t.code for t in self.terms if t.vocabulary == vocabulary]

    def set_codes(self, vocabulary: str, codes: list[str]) -> None:
        wanted = list(dict.fromkeys(codes))
        kept = [t for t in self.terms if t.vocabulary != vocabulary or t.code in wanted]
        present = {t.code for t in kept if t.vocabulary == vocabulary}
        kept += [self.term_class(vocabulary=vocabulary, code=c)
                 for c in wanted if c not in present]
        self.terms = kept


class Contact(HasTerms, RecordKeyed, Versioned, db.Model):
    __encrypted__ = ("note",)
    term_class = ContactTerm
    __table_args__ = (
        CheckConstraint("people_count >= 1", name="people_count_positive"),
        Index("ix_contact_neighbourhood_occurred", "neighbourhood_id", "occurred_at"),
        # A person's history, and "persons met twice in the period" read from the index
        # alone, already grouped by code, with the record keys their figure's key adds up.
        Index("ix_contact_person_code", "person_code_hash", "neighbourhood_id", "occurred_at",
              "record_key", sqlite_where=text("person_code_hash IS NOT NULL"),
              postgresql_where=text("person_code_hash IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhood.id"),
                                                  active_history=True)
    outing_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("outing.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, active_history=True)
    place_type: Mapped[str | None] = mapped_column(String(40))
    initiative: Mapped[str | None] = mapped_column(String(40))
    people_count: Mapped[int] = mapped_column(default=1)
    age_band: Mapped[str | None] = mapped_column(String(40))
    gender: Mapped[str | None] = mapped_column(String(40))
    # HMAC of the normalised person code: never the code itself (app.crypto).
    person_code_hash: Mapped[str | None] = mapped_column(String(64))
    # AES-GCM sealed note, bound to this row (app.crypto); read through read_note().
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    neighbourhood: Mapped[Neighbourhood] = relationship()
    outing: Mapped[Outing | None] = relationship()
    author: Mapped[User] = relationship()
    terms: Mapped[list[ContactTerm]] = relationship(
        cascade="all, delete-orphan", order_by=(ContactTerm.vocabulary, ContactTerm.code)
    )

    # -- sealed note ----------------------------------------------------------------------
    def set_note(self, text: str | None) -> None:
        self.note = crypto.seal(self.__tablename__, "note", self.id, (text or "").strip() or None)

    def read_note(self) -> str | None:
        return crypto.unseal(self.__tablename__, "note", self.id, self.note)

    @property
    def has_note(self) -> bool:
        return self.note is not None

    # -- person code ----------------------------------------------------------------------
    def set_person_code(self, raw: str | None) -> None:
        raw = (raw or "").strip()
        self.person_code_hash = crypto.person_code_hash(raw) if raw else None

