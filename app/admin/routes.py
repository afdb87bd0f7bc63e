"""Coordinator, partner and admin home pages."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from .. import audit, conflicts, retention
from ..access import role_required
from ..extensions import db
from ..loaders import UnusableFile, load_directory
from ..models import AuditEvent, Neighbourhood, Organisation, Role, User
from ..validation import Invalid
from ..web import local_now
from . import accounts, bp
from .forms import (
    DirectoryImportForm,
    OrganisationForm,
    apply_organisation,
    organisation_values,
)


@bp.get("/admin")
@role_required(Role.ADMIN)
def admin_home():
    users = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    neighbourhoods = db.session.scalars(select(Neighbourhood).order_by(Neighbourhood.name)).all()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc()).limit(10)).all()
    now = local_now()
    # Locked for everyone after many failures from many addresses (app/auth/throttle.py).
    locked = [u for u in users if u.locked_until is not None and u.locked_until > now]
    return render_template(
        "admin/admin_home.html", neighbourhoods=neighbourhoods, events=events, locked=locked,
        retention_run=retention.last_run(), retention_months=retention.settings(),
        names={u.id: u.display_name for u in users},
        active_count=sum(u.active for u in users),
        pending_count=sum(u.active and accounts.awaiting_password(u)
                          and u.last_login_at is None for u in users))


# Unlocking an account: app.admin.users.unlock_user (one way, for the pages and admins).


# -- the directory of services ---------------------------------------------------------------
@bp.get("/admin/directory")
@role_required(Role.ADMIN)
def directory():
    organisations = db.session.scalars(
        select(Organisation).order_by(Organisation.active.desc(), Organisation.name)
    ).all()
    return render_template("admin/directory.html", organisations=organisations,
                           import_form=DirectoryImportForm())


def _organisation_page(form, organisation, status, *, version=None, screen=None):
    return render_template("admin/organisation_form.html", form=form, organisation=organisation,
                           version=version, screen=screen), status


def _audit_organisation(saved) -> None:
    audit.record("organisation_saved", obj=saved.record, detail={"active": saved.record.active})


def _save_organisation(organisation: Organisation | None):
    if organisation is not None:
        return conflicts.edit_page(Organisation, organisation.id, OrganisationForm,
                                   organisation_values, apply_organisation,
                                   "admin/organisation_form.html", "organisation",
                                   _("Service enregistré."), _audit_organisation,
                                   "admin.directory")
    form = OrganisationForm()
    if form.validate_on_submit():
        organisation = Organisation()
        try:
            apply_organisation(organisation, organisation_values(form))
        except Invalid as exc:
            conflicts.show_errors(form, exc)
        else:
            db.session.add(organisation)
            db.session.flush()
            audit.record("organisation_saved", obj=organisation,
                         detail={"active": organisation.active})
            db.session.commit()
            flash(_("Service enregistré."), "success")
            return redirect(url_for("admin.directory"))
    return _organisation_page(form, None, 422 if request.method == "POST" else 200)




@bp.route("/admin/directory/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_organisation():
    return _save_organisation(None)


@bp.route("/admin/directory/<int:organisation_id>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_organisation(organisation_id):
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None:
        abort(404)
    return _save_organisation(organisation)


@bp.post("/admin/directory/import")
@role_required(Role.ADMIN)
def import_directory():
    form = DirectoryImportForm()
    report = None
    problem = None
    if form.validate_on_submit():
        try:
            report = load_directory(form.file.data.stream)
        except UnusableFile as exc:
            db.session.rollback()
            problem = str(exc)
        else:
            audit.record("directory_imported", object_type="organisation",
                         detail={"created": report.created, "updated": report.updated,
                                 "rejected": len(report.rejected)})
            db.session.commit()
    status = 200 if report is not None else 422
    return render_template("admin/directory_import.html", form=form, report=report,
                           problem=problem), status
