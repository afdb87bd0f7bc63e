"""The CLSS evaluation frame (objectives, indicators) and collective actions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask_babel import get_locale
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .directory import Organisation
from .history import Versioned
from .outreach import HasTerms
from .people import Neighbourhood
from .record_key import RecordKeyed
from .types import UTCDateTime, utcnow

collective_action_organisation = Table(
    "collective_action_organisation",
    db.metadata,
    Column("action_id", ForeignKey("collective_action.id", ondelete="CASCADE"),
           primary_key=True),
    Column("organisation_id", ForeignKey("organisation.id"), primary_key=True),
)


class CollectiveActionTerm(db.Model):
    """A theme of a collective action."""

    __tablename__ = "collective_action_term"
    __table_args__ = (
        ForeignKeyConstraint(["vocabulary", "code"], ["term.vocabulary", "term.code"],
                             name="fk_collective_action_term_term"),
    )

    action_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collective_action.id", ondelete="CASCADE"), primary_key=True)
    vocabulary: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(40), primary_key=True)


class CollectiveAction(HasTerms, RecordKeyed, Versioned, db.Model):
    """A collective or community action, or a networking (maillage) meeting: counts only,
    no person is recorded."""

    __tablename__ = "collective_action"
    term_class = CollectiveActionTerm
    __table_args__ = (
        CheckConstraint("participants >= 0", name="participants_not_negative"),
        Index("ix_collective_action_neighbourhood_day", "neighbourhood_id", "occurred_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    neighbourhood_id: Mapped[int] = mapped_column(ForeignKey("neighbourhood.id"),
                                                  active_history=True)
    mission: Mapped[str] = mapped_column(String(40))  # collective_mission term code
    occurred_on: Mapped[date] = mapped_column(Date, active_history=True)
    participants: Mapped[int] = mapped_column(default=0)
    # A short name of the action ("Stand santé au marché"), never about a person.
    title: Mapped[str | None] = mapped_column(String(120))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    neighbourhood: Mapped[Neighbourhood] = relationship()
    organisations: Mapped[list[Organisation]] = relationship(
        secondary=collective_action_organisation, order_by=Organisation.name)
    terms: Mapped[list[CollectiveActionTerm]] = relationship(
        cascade="all, delete-orphan",
        order_by=(CollectiveActionTerm.vocabulary, CollectiveActionTerm.code))



def _in_locale(record, field: str, locale: str | None) -> str:
    """`record.<field>_<locale>` when it is filled in, else the French reference text
    (as Term.label does); a locale such as nl_BE is read as nl."""
    locale = str(locale or get_locale() or "fr").split("_")[0]
    text = getattr(record, f"{field}_{locale}", None) if locale in ("nl", "en") else None
    return text if text and text.strip() else getattr(record, f"{field}_fr")


class Objective(Versioned, db.Model):
    __table_args__ = (UniqueConstraint("plan", "code", name="uq_objective_plan_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(20))  # RAQ, COL, MAR, …
    code: Mapped[str] = mapped_column(String(20))
    parent_code: Mapped[str | None] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    # French is the reference text; Dutch and English are optional, read in their place.
    title_fr: Mapped[str] = mapped_column(Text)
    title_nl: Mapped[str | None] = mapped_column(Text)
    title_en: Mapped[str | None] = mapped_column(Text)
    target: Mapped[int | None] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)

    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="objective", order_by="Indicator.position")

    def title(self, locale: str | None = None) -> str:
        """The title in the reader's language, or in French when it has none."""
        return _in_locale(self, "title", locale)


class Indicator(Versioned, db.Model):
    """A declarative count over records: `record`, `measure` and a `filter`
    (``field=a|b;field2=c``: clauses AND-ed, alternatives OR-ed)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(ForeignKey("objective.id"), index=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    label_fr: Mapped[str] = mapped_column(String(300))
    label_nl: Mapped[str | None] = mapped_column(String(300))
    label_en: Mapped[str | None] = mapped_column(String(300))
    record: Mapped[str] = mapped_column(String(30))
    measure: Mapped[str] = mapped_column(String(30))
    filter: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)

    objective: Mapped[Objective] = relationship(back_populates="indicators")

    def label(self, locale: str | None = None) -> str:
        """The label in the reader's language, or in French when it has none."""
        return _in_locale(self, "label", locale)


class FigureBlock(db.Model):
    """The additive evaluation figures of one neighbourhood for one calendar month, kept so
    that a dashboard over years adds up a few hundred blocks instead of scanning every record.

    Writes of the records behind the figures bump `generation` (app/evaluation/blocks.py);
    `data` is valid only while `data_generation` equals it and `definitions` is the digest of
    the indicators it was computed for. It holds counts only, never a record or a code.
    """

    __tablename__ = "figure_block"

    neighbourhood_id: Mapped[int] = mapped_column(
        ForeignKey("neighbourhood.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, local time
    generation: Mapped[int] = mapped_column(default=0)
    data_generation: Mapped[int | None] = mapped_column()
    definitions: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[str | None] = mapped_column(Text)
