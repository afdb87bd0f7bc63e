"""Controlled vocabularies in the browser (admins): add a term, edit its labels, reorder,
retire and bring back.

Records store term codes, so a code never changes once saved and a term is never deleted
(there is no route for it): a retired term is no longer offered by the forms, yet old records
and the evaluation's figures still read its label (app.vocab.labels_for, the indicator filters
check codes with include_inactive). Positions stay dense (1..n in each vocabulary).
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from .. import audit
from ..access import role_required
from ..extensions import db
from ..models import Role, Term
from . import bp

# The vocabularies of shared/data/vocabularies.csv; one not named here shows its code.
TITLES = {
    "age_band": _l("Tranches d'âge"),
    "bridge_outcome": _l("Issues des suivis-pont"),
    "bridge_step_kind": _l("Étapes des suivis-pont"),
    "collective_mission": _l("Missions des actions collectives"),
    "gender": _l("Genres"),
    "initiative": _l("Initiative du contact"),
    "language": _l("Langues"),
    "org_category": _l("Catégories de services"),
    "outing_kind": _l("Types de sortie"),
    "place_type": _l("Types de lieu"),
    "referral_modality": _l("Modalités d'orientation"),
    "referral_outcome": _l("Issues des orientations"),
    "response": _l("Réponses apportées"),
    "situation": _l("Situations rencontrées"),
    "theme": _l("Thèmes abordés"),
}


def title(vocabulary: str) -> str:
    return str(TITLES.get(vocabulary, vocabulary))


class TermForm(FlaskForm):
    label_fr = StringField(_l("Libellé en français"), validators=[
        DataRequired(_l("Le libellé français est obligatoire.")), Length(max=200)])
    label_nl = StringField(_l("Libellé en néerlandais"), validators=[Optional(),
                                                                     Length(max=200)])
    label_en = StringField(_l("Libellé en anglais"), validators=[Optional(), Length(max=200)])


class NewTermForm(TermForm):
    code = StringField(_l("Code"), description=_l(
        "Lettres minuscules sans accents, chiffres et _ ; les enregistrements le gardent : "
        "il ne pourra plus être changé."), validators=[
        DataRequired(_l("Le code est obligatoire.")), Length(max=40),
        Regexp(r"^[a-z0-9_]+$", message=_l(
            "Lettres minuscules sans accents, chiffres et _ seulement."))])


def _vocabulary_or_404(vocabulary: str, *, lock: bool = True) -> list[Term]:
    """The vocabulary's terms in their order; for a change, locked until it commits
    (PostgreSQL), so that two reorders at once cannot give two terms one position."""
    stmt = select(Term).where(Term.vocabulary == vocabulary).order_by(Term.position, Term.id)
    found = list(db.session.scalars(stmt.with_for_update() if lock else stmt))
    if not found:
        abort(404)
    return found


def _term_or_404(terms: list[Term], code: str) -> Term:
    for term in terms:
        if term.code == code:
            return term
    abort(404)


def _changed(term: Term, action: str, **detail) -> None:
    """Audit a change and forget the terms this request read (app.vocab keeps them in g)."""
    audit.record(action, obj=term, detail={"vocabulary": term.vocabulary, "code": term.code,
                                           **detail})
    g.pop("relais_terms", None)


def _labels(form: TermForm) -> dict:
    return {name: (getattr(form, name).data or "").strip() or None
            for name in ("label_fr", "label_nl", "label_en")}


def _missing_translations(term: Term) -> None:
    if not term.label_nl or not term.label_en:
        flash(_("Pensez à ajouter les libellés en néerlandais et en anglais : sinon le "
                "libellé français s'affiche dans ces langues."), "warning")


@bp.get("/admin/vocabularies")
@role_required(Role.ADMIN)
def vocabulary_list():
    rows = db.session.execute(
        select(Term.vocabulary, func.count(Term.id),
               func.count(Term.id).filter(Term.active.is_(True)))
        .group_by(Term.vocabulary)).all()
    listed = sorted(({"code": name, "title": title(name), "terms": total, "active": active}
                     for name, total, active in rows), key=lambda v: v["title"].casefold())
    return render_template("admin/vocabularies.html", vocabularies=listed)


@bp.get("/admin/vocabularies/<vocabulary>")
@role_required(Role.ADMIN)
def vocabulary(vocabulary):
    terms = _vocabulary_or_404(vocabulary, lock=False)
    return render_template("admin/vocabulary.html", vocabulary=vocabulary,
                           title=title(vocabulary), terms=terms)


def _term_page(form, vocabulary: str, term: Term | None, status: int):
    return render_template("admin/term_form.html", form=form, vocabulary=vocabulary,
                           title=title(vocabulary), term=term), status


@bp.route("/admin/vocabularies/<vocabulary>/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_term(vocabulary):
    terms = _vocabulary_or_404(vocabulary, lock=request.method == "POST")
    form = NewTermForm()
    if form.validate_on_submit():
        code = form.code.data.strip()
        if any(t.code == code for t in terms):
            form.code.errors = [_("Ce code existe déjà dans cette liste (il peut être "
                                  "retiré : ramenez-le plutôt).")]
        else:
            term = Term(vocabulary=vocabulary, code=code, active=True,
                        position=max(t.position for t in terms) + 1, **_labels(form))
            db.session.add(term)
            try:
                db.session.flush()
            except IntegrityError:  # the same code added at the same moment
                db.session.rollback()
                form.code.errors = [_("Ce code existe déjà dans cette liste.")]
            else:
                _changed(term, "term_saved", created=True)
                db.session.commit()
                flash(_("Terme ajouté."), "success")
                _missing_translations(term)
                return redirect(url_for("admin.vocabulary", vocabulary=vocabulary))
    return _term_page(form, vocabulary, None, 422 if request.method == "POST" else 200)


@bp.route("/admin/vocabularies/<vocabulary>/<code>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_term(vocabulary, code):
    term = _term_or_404(_vocabulary_or_404(vocabulary, lock=request.method == "POST"), code)
    # Labels only: the code comes from the address and is never read from the form.
    form = TermForm(obj=term)
    if form.validate_on_submit():
        labels = _labels(form)
        changed = sorted(k for k, v in labels.items() if getattr(term, k) != v)
        for name, value in labels.items():
            setattr(term, name, value)
        _changed(term, "term_saved", created=False, changed=changed)
        db.session.commit()
        flash(_("Libellés enregistrés."), "success")
        _missing_translations(term)
        return redirect(url_for("admin.vocabulary", vocabulary=vocabulary))
    return _term_page(form, vocabulary, term, 422 if request.method == "POST" else 200)


@bp.post("/admin/vocabularies/<vocabulary>/<code>/<any(up, down):direction>")
@role_required(Role.ADMIN)
def move_term(vocabulary, code, direction):
    terms = _vocabulary_or_404(vocabulary)
    term = _term_or_404(terms, code)
    index = terms.index(term)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(terms):
        terms[index], terms[other] = terms[other], terms[index]
        for position, each in enumerate(terms, start=1):  # dense again, whatever came before
            each.position = position
        _changed(term, "term_moved", direction=direction, position=term.position)
        db.session.commit()
    return redirect(url_for("admin.vocabulary", vocabulary=vocabulary) + f"#term-{code}")


def _set_active(vocabulary: str, code: str, active: bool):
    term = _term_or_404(_vocabulary_or_404(vocabulary), code)
    if term.active != active:
        term.active = active
        _changed(term, "term_restored" if active else "term_retired")
        db.session.commit()
        flash(_("Terme ramené : il est de nouveau proposé.") if active else
              _("Terme retiré : il n'est plus proposé ; les enregistrements passés le "
                "gardent."), "success")
    return redirect(url_for("admin.vocabulary", vocabulary=vocabulary) + f"#term-{code}")


@bp.post("/admin/vocabularies/<vocabulary>/<code>/retire")
@role_required(Role.ADMIN)
def retire_term(vocabulary, code):
    return _set_active(vocabulary, code, False)


@bp.post("/admin/vocabularies/<vocabulary>/<code>/restore")
@role_required(Role.ADMIN)
def restore_term(vocabulary, code):
    return _set_active(vocabulary, code, True)
