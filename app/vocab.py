"""Reading the controlled vocabularies (Term table), cached for the length of a request."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from .extensions import db
from .models import Term


def _all_terms() -> list[Term]:
    if has_request_context() and "relais_terms" in g:
        return g.relais_terms
    terms = list(db.session.scalars(
        select(Term).order_by(Term.vocabulary, Term.position, Term.id)
    ))
    if has_request_context():
        # Kept detached: a rollback within the request (a refused merge, a resend compared
        # and given up) would otherwise expire them and reload every term one by one.
        for term in terms:
            db.session.expunge(term)
        g.relais_terms = terms
    return terms


def terms(vocabulary: str, *, include_inactive: bool = False) -> list[Term]:
    return [t for t in _all_terms()
            if t.vocabulary == vocabulary and (include_inactive or t.active)]


def offered(vocabulary: str, chosen=()) -> list[Term]:
    """The terms a form offers: the active ones, and a retired one the record already holds
    (in the vocabulary's order), so that editing an old record never drops its retired
    terms without the person choosing to."""
    chosen = {code for code in chosen if code}
    return [t for t in terms(vocabulary, include_inactive=True) if t.active or t.code in chosen]


def codes(vocabulary: str, *, include_inactive: bool = False) -> set[str]:
    return {t.code for t in terms(vocabulary, include_inactive=include_inactive)}


def labels_for(vocabulary: str) -> dict[str, str]:
    """code → label in the current language, retired terms included (old records show)."""
    return {t.code: t.label() for t in terms(vocabulary, include_inactive=True)}


def labels_in_order(vocabulary: str, chosen) -> list[str]:
    """Labels of the chosen codes, in the vocabulary's own order (as the form shows them)."""
    chosen = set(chosen)
    return [t.label() for t in terms(vocabulary, include_inactive=True) if t.code in chosen]


def vocabularies() -> dict[str, list[Term]]:
    grouped: dict[str, list[Term]] = {}
    for term in _all_terms():
        grouped.setdefault(term.vocabulary, []).append(term)
    return grouped
