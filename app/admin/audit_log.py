"""The audit log for admins: filter by person, kind and period, page through, export as CSV.

Filters travel as GET query parameters (a person's id, an action, two dates): nothing in
them is sensitive. The period is in calendar days of the field work's time zone, the last
day included, as the evaluation's periods are. The CSV goes through the evaluation's
exporter, which keeps every cell from becoming a spreadsheet formula; the export itself
leaves an `audit_exported` event.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from flask import Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DateField, IntegerField, SelectField
from wtforms.validators import NumberRange, Optional, ValidationError

from .. import audit
from ..access import role_required
from ..evaluation.exports import to_csv
from ..extensions import db
from ..models import AuditEvent, Neighbourhood, Role, User
from ..web import local_now, local_tz
from . import bp

PER_PAGE = 50
NOBODY = "none"  # events without a person: the command line, a failed sign-in, …


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    person = SelectField(_l("Personne"), validators=[Optional()])
    kind = SelectField(_l("Type d'événement"), validators=[Optional()])
    # Named as the evaluation's period parameters are: ?from=YYYY-MM-DD&to=YYYY-MM-DD.
    start = DateField(_l("Du"), name="from", validators=[Optional()],
                      render_kw={"type": "date"})
    end = DateField(_l("Au (inclus)"), name="to", validators=[Optional()],
                    render_kw={"type": "date"})
    page = IntegerField(_l("Page"), validators=[Optional(), NumberRange(min=1, message=_l(
        "Cette page n'existe pas."))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = db.session.execute(select(User.id, User.display_name, User.email)
                                   .order_by(User.display_name, User.email)).all()
        self.person.choices = [("", _("Toutes")), (NOBODY, _("Personne (système, commande)"))] + [
            (str(uid), f"{name} ({email})") for uid, name, email in users]
        actions = db.session.scalars(select(AuditEvent.action).distinct()
                                     .order_by(AuditEvent.action)).all()
        self.kind.choices = [("", _("Tous"))] + [(a, a) for a in actions]

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_("La fin de la période précède son début."))

    def conditions(self) -> list:
        where = []
        if self.person.data == NOBODY:
            where.append(AuditEvent.user_id.is_(None))
        elif self.person.data:
            where.append(AuditEvent.user_id == int(self.person.data))
        if self.kind.data:
            where.append(AuditEvent.action == self.kind.data)
        if self.start.data:
            where.append(AuditEvent.at >= _local_midnight(self.start.data))
        if self.end.data:
            where.append(AuditEvent.at < _local_midnight(self.end.data + timedelta(days=1)))
        return where

    def query_args(self) -> dict:
        """The filters as query parameters (page links, the export link, the audit detail)."""
        names = (self.person.name, self.kind.name, self.start.name, self.end.name)
        return {name: request.args[name] for name in names if request.args.get(name)}


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_tz())


def _events(where: list):
    return (select(AuditEvent, User.display_name, Neighbourhood.name)
            .outerjoin(User, User.id == AuditEvent.user_id)
            .outerjoin(Neighbourhood, Neighbourhood.id == AuditEvent.neighbourhood_id)
            .where(*where).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))


def compact(detail) -> str:
    if detail is None:
        return ""
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _checked_form() -> tuple[AuditFilterForm, bool]:
    form = AuditFilterForm(request.args)
    return form, form.validate()


@bp.get("/admin/audit")
@role_required(Role.ADMIN)
def audit_log():
    form, valid = _checked_form()
    rows, total, page, pages = [], 0, 1, 1
    if valid:
        where = form.conditions()
        total = db.session.scalar(select(func.count(AuditEvent.id)).where(*where))
        pages = max(1, -(-total // PER_PAGE))
        page = form.page.data or 1
        if page > pages:
            form.page.errors = [_("Cette page n'existe pas (%(pages)d en tout).", pages=pages)]
            valid = False
        else:
            rows = db.session.execute(_events(where).limit(PER_PAGE)
                                      .offset((page - 1) * PER_PAGE)).all()
    return render_template("admin/audit_log.html", form=form, rows=rows, total=total,
                           page=page, pages=pages, args=form.query_args(),
                           compact=compact), 200 if valid else 422


@bp.get("/admin/audit.csv")
@role_required(Role.ADMIN)
def audit_export():
    form, valid = _checked_form()
    if not valid:
        return render_template("admin/audit_log.html", form=form, rows=[], total=0, page=1,
                               pages=1, args=form.query_args(), compact=compact), 422
    tz = local_tz()
    header = [_("Date et heure"), _("Personne"), _("Action"), _("Type d'objet"), _("Objet"),
              _("Quartier"), _("Adresse source"), _("Détail")]
    rows = [header] + [
        [event.at.astimezone(tz).isoformat(timespec="seconds"), person or "", event.action,
         event.object_type or "", event.object_id or "", place or "",
         event.source_address or "", compact(event.detail)]
        for event, person, place in db.session.execute(_events(form.conditions()))]
    filters = form.query_args()
    audit.record("audit_exported", object_type="audit_event",
                 detail={"filters": filters, "count": len(rows) - 1})
    db.session.commit()
    name = f"relais-audit-{local_now():%Y%m%d-%H%M}.csv"
    return Response(to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
