"""Referrals (orientations) of a contact to a service of the directory, with their history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import crypto
from ..extensions import db
from .directory import Organisation
from .history import Versioned
from .outreach import Contact
from .people import Neighbourhood, User
from .record_key import RecordKeyed
from .types import UTCDateTime, utcnow

# The order of a referral's life; a status never goes back.
STATUSES = ("proposed", "sent", "received", "closed")
OPEN_STATUSES = ("proposed", "sent", "received")


class Referral(RecordKeyed, Versioned, db.Model):
    __encrypted__ = ("message", "reply")
    __table_args__ = (
        CheckConstraint("status IN ('proposed', 'sent', 'received', 'closed')",
                        name="status_known"),
        CheckConstraint("(status = 'closed') = (outcome IS NOT NULL)",
                        name="outcome_when_closed"),
        Index("ix_referral_organisation_status", "organisation_id", "status"),
        # The scope of every list and count (neighbourhood, period); with the service, the
        # count of distinct services reads the index alone.
        Index("ix_referral_neighbourhood_created", "neighbourhood_id", "created_at",
              "organisation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    # Set when the referral is made within a bridge follow-up (its contact is then the
    # bridge's origin contact).
    bridge_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bridge.id", ondelete="SET NULL"), index=True
    )
    # Copied from the contact: scoping and counting need no join.
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhood.id"),
                                                  active_history=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    modality: Mapped[str] = mapped_column(String(40))  # referral_modality term code
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    outcome: Mapped[str | None] = mapped_column(String(40))  # referral_outcome term code
    # AES-GCM sealed, bound to this row (app.crypto): the worker's message to the partner
    # and the partner's reply.
    message: Mapped[str | None] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    # A keyed hash of the message, bound to this row: "has the message changed?" is answered
    # with it, never by opening the message outside an audited read.
    message_digest: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, active_history=True)
    # Set once, when the referral is first sent: from then on the partner sees it.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship()
    neighbourhood: Mapped[Neighbourhood] = relationship()
    organisation: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship()
    bridge = relationship("Bridge")
    history: Mapped[list[ReferralEvent]] = relationship(
        back_populates="referral", cascade="all, delete-orphan",
        order_by="(ReferralEvent.at, ReferralEvent.id)",
    )

    def set_message(self, text: str | None) -> None:
        text = _blank_to_none(text)
        self.message = crypto.seal(self.__tablename__, "message", self.id, text)
        self.message_digest = crypto.text_digest(self.__tablename__, "message", self.id, text)

    def read_message(self) -> str | None:
        return crypto.unseal(self.__tablename__, "message", self.id, self.message)

    def set_reply(self, text: str | None) -> None:
        self.reply = crypto.seal(self.__tablename__, "reply", self.id, _blank_to_none(text))

    def read_reply(self) -> str | None:
        return crypto.unseal(self.__tablename__, "reply", self.id, self.reply)

    @property
    def is_open(self) -> bool:
        return self.status != "closed"


class ReferralEvent(db.Model):
    """One status change: who moved the referral to which status, and when."""

    __tablename__ = "referral_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referral.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    referral: Mapped[Referral] = relationship(back_populates="history")
    by: Mapped[User] = relationship()


def _blank_to_none(text: str | None) -> str | None:
    return (text or "").strip() or None
