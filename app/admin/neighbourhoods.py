"""Neighbourhoods in the browser (admins): the list, add one, rename one.

The rule itself (code format, uniqueness, the code never changing, the audit event) is
app.neighbourhoods.save, which the `neighbourhood add` command uses too.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Regexp

from .. import conflicts, neighbourhoods
from ..access import role_required
from ..extensions import db
from ..models import Neighbourhood, Role
from ..validation import Invalid
from . import bp

_REQUIRED = _l("Ce champ est obligatoire.")


class RenameForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(_REQUIRED),
                                              Length(max=neighbourhoods.NAME_MAX)])
    commune = StringField(_l("Commune"), validators=[DataRequired(_REQUIRED),
                                                     Length(max=neighbourhoods.NAME_MAX)])


class NeighbourhoodForm(RenameForm):
    code = StringField(_l("Code"), description=neighbourhoods.CODE_HINT, validators=[
        DataRequired(_REQUIRED), Length(max=neighbourhoods.CODE_MAX),
        Regexp(neighbourhoods.CODE_PATTERN, message=_l(
            "Lettres minuscules sans accents, chiffres et traits d'union seulement."))])


@bp.get("/admin/neighbourhoods")
@role_required(Role.ADMIN)
def neighbourhood_list():
    places = db.session.scalars(select(Neighbourhood).order_by(Neighbourhood.name)).all()
    return render_template("admin/neighbourhoods.html", neighbourhoods=places)


def _save(form, code: str, *, rename_only: bool, neighbourhood=None):
    if form.validate_on_submit():
        try:
            neighbourhoods.save(code, form.name.data, form.commune.data,
                                rename_only=rename_only)
        except Invalid as exc:
            conflicts.show_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Quartier enregistré."), "success")
            return redirect(url_for("admin.neighbourhood_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("admin/neighbourhood_form.html", form=form,
                           neighbourhood=neighbourhood), status


@bp.route("/admin/neighbourhoods/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_neighbourhood():
    form = NeighbourhoodForm()
    return _save(form, (form.code.data or "").strip(), rename_only=False)


@bp.route("/admin/neighbourhoods/<code>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_neighbourhood(code):
    found = db.session.scalar(select(Neighbourhood).where(Neighbourhood.code == code))
    if found is None:
        abort(404)
    # The code comes from the address, never from the form: it cannot be changed.
    form = RenameForm(obj=found)
    return _save(form, found.code, rename_only=True, neighbourhood=found)
