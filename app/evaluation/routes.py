"""Dashboard, printable page, exports and the editing of the evaluation frame."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import audit, conflicts, versions
from ..access import role_required
from ..extensions import db
from ..formats import format_date
from ..models import Indicator, Objective, Role
from ..validation import Invalid
from ..web import local_now
from . import bp, dashboard, exports, perturbation, selection
from .forms import (
    IndicatorForm,
    ObjectiveForm,
    apply_indicator,
    apply_objective,
    indicator_values,
    objective_values,
)

readers = role_required(Role.COORDINATOR, Role.FIELD_WORKER)
coordinators = role_required(Role.COORDINATOR)


def _heading(chosen: selection.Selection) -> str:
    names = ", ".join(n.name for n in chosen.neighbourhoods)
    return _("%(where)s, du %(start)s au %(end)s", where=names,
             start=format_date(chosen.period.start, "short"),
             end=format_date(chosen.period.end, "short"))


def _built(*, leaves_the_team: bool = True):
    """The selection and its figures. A print or an export leaves the team whoever makes
    it: always perturbed. On screen, the team reads its own exact figures."""
    chosen = selection.read(request.args)
    perturbed = leaves_the_team or not selection.inside_the_team(current_user)
    return chosen, dashboard.build(chosen.neighbourhoods, chosen.period, perturbed=perturbed)


@bp.get("/evaluation")
@readers
def view():
    chosen, board = _built(leaves_the_team=False)
    return render_template("evaluation/dashboard.html", chosen=chosen, board=board,
                           heading=_heading(chosen), charts=dashboard.charts(board))


@bp.get("/evaluation/print")
@readers
def printable():
    chosen, board = _built()
    audit.record("export", object_type="evaluation", detail=_export_detail(chosen, "print"))
    db.session.commit()
    return render_template("evaluation/print.html", chosen=chosen, board=board,
                           heading=_heading(chosen), tables=exports.TABLES,
                           rows_for=exports.rows_for, table_title=exports.table_title,
                           note=exports.suppression_note(board.k), generated=local_now())


def _export_detail(chosen: selection.Selection, fmt: str, table: str | None = None) -> dict:
    return {"format": fmt, "table": table, "neighbourhoods": [n.code for n in
                                                              chosen.neighbourhoods],
            "from": chosen.period.start.isoformat(), "to": chosen.period.end.isoformat()}


def _filename(chosen: selection.Selection, name: str, ext: str) -> str:
    return f"relais-{name}-{chosen.period.start:%Y%m%d}-{chosen.period.end:%Y%m%d}.{ext}"


@bp.get("/evaluation/export/<table>.csv")
@readers
def export_csv(table):
    if table not in exports.TABLES:
        abort(404)
    chosen, board = _built()
    body = exports.to_csv(exports.rows_for(board, table))
    audit.record("export", object_type="evaluation", detail=_export_detail(chosen, "csv", table))
    db.session.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_filename(chosen, table, "csv")}"'})


@bp.get("/evaluation/export.xlsx")
@readers
def export_xlsx():
    chosen, board = _built()
    body = exports.to_xlsx(board, _heading(chosen))
    audit.record("export", object_type="evaluation", detail=_export_detail(chosen, "xlsx"))
    db.session.commit()
    return Response(
        body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition":
                 f'attachment; filename="{_filename(chosen, "evaluation", "xlsx")}"'})


# -- the evaluation frame, maintained by coordinators -------------------------------------------
@bp.get("/evaluation/indicators")
@coordinators
def indicators():
    objectives = db.session.scalars(
        select(Objective).order_by(Objective.plan, Objective.position)).all()
    return render_template("evaluation/indicators.html", objectives=objectives,
                           plan_titles=dashboard.PLAN_TITLES)


def _indicator_saved(saved) -> None:
    audit.record("indicator_saved", object_type="indicator", object_id=saved.record.id,
                 detail={"code": saved.record.code})


@bp.route("/evaluation/indicators/new", methods=["GET", "POST"])
@coordinators
def new_indicator():
    form = IndicatorForm()
    if form.validate_on_submit():
        indicator = Indicator()
        try:
            apply_indicator(indicator, indicator_values(form))
        except Invalid as exc:
            conflicts.show_errors(form, exc)
        else:
            db.session.add(indicator)
            db.session.flush()
            _indicator_saved(versions.Saved(indicator))
            db.session.commit()
            flash(_("Indicateur enregistré."), "success")
            return redirect(url_for("evaluation.indicators"))
    return render_template("evaluation/indicator_form.html", form=form, indicator=None), \
        422 if request.method == "POST" else 200


@bp.route("/evaluation/indicators/<int:indicator_id>/edit", methods=["GET", "POST"])
@coordinators
def edit_indicator(indicator_id):
    return conflicts.edit_page(Indicator, indicator_id, IndicatorForm, indicator_values,
                               apply_indicator, "evaluation/indicator_form.html", "indicator",
                               _("Indicateur enregistré."), _indicator_saved,
                               "evaluation.indicators")


@bp.route("/evaluation/objectives/<int:objective_id>/edit", methods=["GET", "POST"])
@coordinators
def edit_objective(objective_id):
    return conflicts.edit_page(Objective, objective_id, ObjectiveForm, objective_values,
                               apply_objective, "evaluation/objective_form.html", "objective",
                               _("Objectif enregistré."),
                               lambda saved: audit.record("objective_saved",
                                                          object_type="objective",
                                                          object_id=saved.record.id),
                               "evaluation.indicators")


bp.add_app_template_global(selection.whole_months_only)


@bp.app_template_global()
def perturbation_max_noise() -> int:
    return perturbation.table().max_noise


@bp.app_template_global()
def can_edit_evaluation() -> bool:
    return current_user.is_authenticated and current_user.role == Role.COORDINATOR
