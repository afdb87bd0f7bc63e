"""Bridge follow-ups (suivis-pont): a temporary accompaniment of one person, known only by
a person code, until a competent service takes over."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import crypto
from ..extensions import db
from .directory import Organisation
from .history import Versioned
from .outreach import Contact
from .people import Neighbourhood, User
from .record_key import RecordKeyed
from .types import UTCDateTime, utcnow


class Bridge(RecordKeyed, Versioned, db.Model):
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)",
                        name="outcome_when_closed"),
        Index("ix_bridge_neighbourhood_status", "neighbourhood_id", "status"),
        Index("ix_bridge_neighbourhood_opened", "neighbourhood_id", "opened_at"),
        Index("ix_bridge_neighbourhood_closed", "neighbourhood_id", "closed_at"),
        Index("ix_bridge_lead_status", "lead_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhood.id"),
                                                  active_history=True)
    # The HMAC of the person code of the origin contact (never the code itself).
    person_code_hash: Mapped[str] = mapped_column(String(64), index=True)
    origin_contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # The service the person should be attached to, as planned.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    next_step_due: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    outcome: Mapped[str | None] = mapped_column(String(40))  # bridge_outcome term code
    # The service that took the person up, when the outcome says so.
    attached_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, active_history=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, active_history=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    neighbourhood: Mapped[Neighbourhood] = relationship()
    origin_contact: Mapped[Contact] = relationship()
    lead: Mapped[User] = relationship(foreign_keys=[lead_id])
    organisation: Mapped[Organisation | None] = relationship(foreign_keys=[organisation_id])
    attached_organisation: Mapped[Organisation | None] = relationship(
        foreign_keys=[attached_organisation_id])
    steps: Mapped[list[BridgeStep]] = relationship(
        back_populates="bridge", cascade="all, delete-orphan",
        order_by="(BridgeStep.occurred_on.desc(), BridgeStep.created_at.desc())",
    )
    handovers: Mapped[list[BridgeHandover]] = relationship(
        cascade="all, delete-orphan", order_by="BridgeHandover.at",
    )

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class BridgeStep(Versioned, db.Model):
    """One meeting, call, accompaniment or administrative step of a bridge."""

    __tablename__ = "bridge_step"
    __encrypted__ = ("note",)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    bridge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bridge.id", ondelete="CASCADE"), index=True
    )
    occurred_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(40))  # bridge_step_kind term code
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    # AES-GCM sealed, bound to this row (app.crypto); read through read_note().
    note: Mapped[str | None] = mapped_column(Text)
    # A keyed hash of the note, bound to this row: a step sent again is compared with it,
    # never by opening the note (that would be an unaudited read, and a guessing oracle).
    note_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bridge: Mapped[Bridge] = relationship(back_populates="steps")
    author: Mapped[User] = relationship()

    def set_note(self, text: str | None) -> None:
        text = (text or "").strip() or None
        self.note = crypto.seal(self.__tablename__, "note", self.id, text)
        self.note_digest = crypto.text_digest(self.__tablename__, "note", self.id, text)

    def read_note(self) -> str | None:
        return crypto.unseal(self.__tablename__, "note", self.id, self.note)


class BridgeHandover(db.Model):
    """The bridge passed from one worker of the team to another."""

    __tablename__ = "bridge_handover"

    id: Mapped[int] = mapped_column(primary_key=True)
    bridge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bridge.id", ondelete="CASCADE"), index=True
    )
    from_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    to_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    from_user: Mapped[User] = relationship(foreign_keys=[from_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_id])
