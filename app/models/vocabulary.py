"""Controlled vocabularies: one table for every list of codes the forms offer."""

from flask_babel import get_locale
from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

# Vocabularies a contact uses: single-valued ones are columns, multi-valued ones rows of
# contact_term. Keys are API field names, values are vocabulary names.
CONTACT_SINGLE_TERMS = {
    "place_type": "place_type",
    "initiative": "initiative",
    "age_band": "age_band",
    "gender": "gender",
}
CONTACT_MULTI_TERMS = {
    "languages": "language",
    "situations": "situation",
    "themes": "theme",
    "responses": "response",
}


class Term(db.Model):
    __table_args__ = (UniqueConstraint("vocabulary", "code", name="uq_term_vocabulary_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vocabulary: Mapped[str] = mapped_column(String(40), index=True)
    # Codes never change once used: records store them, labels may be edited.
    code: Mapped[str] = mapped_column(String(40))
    label_fr: Mapped[str] = mapped_column(String(200))
    label_nl: Mapped[str | None] = mapped_column(String(200))
    label_en: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)

    def label(self, locale: str | None = None) -> str:
        locale = locale or str(get_locale() or "fr")
        return getattr(self, f"label_{locale}", None) or self.label_fr

    def __repr__(self) -> str:
        return f"<Term {self.vocabulary}:{self.code}>"
