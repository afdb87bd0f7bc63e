"""Accounts in the browser: admins manage every account, coordinators the field workers of
the neighbourhoods they work in (app.access.scoped(User)).

A coordinator creates field workers only, in their own neighbourhoods only; editing a worker
they give or take only their own neighbourhoods (the worker's others stay). Coordinators may
deactivate, reactivate, reset the password of and unlock their workers; resetting the second
factor is for admins alone, so that nobody but an admin can both reset a password and the
factor that guards it. Nobody deactivates or demotes themselves. A one-time link (invitation
or reset) is shown once, on the answer to the POST that made it: it is never stored.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import conflicts
from ..access import get_scoped_or_404, role_required, scoped
from ..auth import links
from ..extensions import db
from ..models import Neighbourhood, Role, User
from ..validation import Invalid
from ..web import is_safe_redirect, local_now
from . import accounts, bp
from .user_forms import ROLE_LABELS, UserForm

managers = role_required(Role.ADMIN, Role.COORDINATOR)


def _is_admin() -> bool:
    return current_user.role == Role.ADMIN


def _allowed_roles() -> list[str]:
    return [r.value for r in Role] if _is_admin() else [Role.FIELD_WORKER.value]


def _allowed_neighbourhoods() -> list[Neighbourhood]:
    query = select(Neighbourhood) if _is_admin() else scoped(Neighbourhood)
    return list(db.session.scalars(query.order_by(Neighbourhood.name)))


def status_of(user: User, now) -> list[str]:
    """What the list says of an account, in words."""
    said = []
    if not user.active:
        said.append(_("Désactivé"))
    elif accounts.awaiting_password(user):
        said.append(_("Invitation en attente") if user.last_login_at is None
                    else _("Nouveau mot de passe en attente"))
    else:
        said.append(_("Actif"))
    if user.locked_until is not None and user.locked_until > now:
        said.append(_("Bloqué"))
    said.append(_("Double authentification") if user.has_two_factor
                else _("Sans double authentification"))
    return said


@bp.get("/users")
@managers
def users():
    rows = db.session.scalars(scoped(User).order_by(User.active.desc(), User.display_name)).all()
    return render_template("admin/users.html", rows=rows, now=local_now(), status_of=status_of,
                           role_labels=ROLE_LABELS)


def _form_page(form, user, status):
    return render_template("admin/user_form.html", form=form, user=user,
                           role_labels=ROLE_LABELS, now=local_now(),
                           status=status_of(user, local_now()) if user else None,
                           is_self=user is not None and user.id == current_user.id), status


def _link_page(user: User, token: str, purpose: str):
    response = make_response(render_template(
        "admin/user_link.html", user=user, url=links.link_url(token), purpose=purpose))
    response.headers["Cache-Control"] = "no-store"  # the link is shown once, never cached
    return response


@bp.route("/users/new", methods=["GET", "POST"])
@managers
def new_user():
    form = UserForm(allowed_roles=_allowed_roles(),
                    allowed_neighbourhoods=_allowed_neighbourhoods())
    if request.method == "GET":
        form.role.data = Role.FIELD_WORKER.value
    if form.validate_on_submit():
        try:
            user = accounts.save_account(
                None, email=form.email.data, role=form.role.data,
                display_name=form.display_name.data,
                neighbourhoods=form.chosen_neighbourhoods(),
                organisation=form.chosen_organisation(), by=current_user)
            token = accounts.invite(user, by=current_user)
            db.session.commit()
        except Invalid as exc:
            db.session.rollback()
            conflicts.show_errors(form, exc)
        except IntegrityError:  # the same e-mail saved meanwhile by someone else
            db.session.rollback()
            form.email.errors = [_("Un compte existe déjà avec cette adresse.")]
        else:
            return _link_page(user, token, "invitation")
    return _form_page(form, None, 422 if request.method == "POST" else 200)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@managers
def edit_user(user_id):
    user = get_scoped_or_404(User, user_id)
    allowed = _allowed_neighbourhoods()
    allowed_ids = {n.id for n in allowed}
    # A coordinator never changes a role; nobody changes their own (no admin demotes
    # themselves and locks the team out).
    fixed_role = not _is_admin() or user.id == current_user.id
    form = UserForm(allowed_roles=[user.role] if fixed_role else _allowed_roles(),
                    allowed_neighbourhoods=allowed,
                    data={"display_name": user.display_name, "role": user.role,
                          "neighbourhoods": [n.id for n in user.neighbourhoods
                                             if n.id in allowed_ids],
                          "organisation": str(user.organisation_id or "")})
    del form.email  # an account's address does not change: invite a new one
    if form.validate_on_submit():
        # The neighbourhoods the editor cannot give stay as they are.
        kept = [n for n in user.neighbourhoods if n.id not in allowed_ids]
        try:
            accounts.save_account(
                user, email=user.email, role=form.role.data,
                display_name=form.display_name.data,
                neighbourhoods=kept + form.chosen_neighbourhoods(),
                organisation=form.chosen_organisation(), by=current_user)
            db.session.commit()
        except Invalid as exc:
            db.session.rollback()
            conflicts.show_errors(form, exc)
        else:
            flash(_("Compte enregistré."), "success")
            return redirect(url_for("admin.users"))
    return _form_page(form, user, 422 if request.method == "POST" else 200)


def _back(user: User):
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/users/<int:user_id>/deactivate")
@managers
def deactivate_user(user_id):
    user = get_scoped_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("Vous ne pouvez pas désactiver votre propre compte."), "error")
        return _back(user)
    accounts.deactivate(user, by=current_user)
    db.session.commit()
    flash(_("Compte désactivé : ses sessions sont fermées, ses enregistrements restent."),
          "success")
    return _back(user)


@bp.post("/users/<int:user_id>/reactivate")
@managers
def reactivate_user(user_id):
    user = get_scoped_or_404(User, user_id)
    accounts.reactivate(user, by=current_user)
    db.session.commit()
    flash(_("Compte réactivé."), "success")
    return _back(user)


@bp.post("/users/<int:user_id>/reset-password")
@managers
def reset_password(user_id):
    user = get_scoped_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("Changez votre propre mot de passe depuis « Mon compte »."), "error")
        return _back(user)
    token = accounts.reset_password(user, by=current_user)
    db.session.commit()
    return _link_page(user, token, "password_reset")


@bp.post("/users/<int:user_id>/reset-two-factor")
@role_required(Role.ADMIN)
def reset_two_factor(user_id):
    user = get_scoped_or_404(User, user_id)
    accounts.reset_two_factor(user, by=current_user)
    db.session.commit()
    flash(_("Double authentification réinitialisée et sessions fermées : la personne la "
            "configurera à nouveau."), "success")
    return _back(user)


@bp.post("/admin/users/<int:user_id>/unlock")
@managers
def unlock_user(user_id):
    user = get_scoped_or_404(User, user_id)
    accounts.unlock(user, by=current_user)
    db.session.commit()
    flash(_("Compte débloqué."), "success")
    target = request.form.get("next")
    if is_safe_redirect(target):
        return redirect(target)
    return redirect(url_for("admin.admin_home") if _is_admin() else url_for("admin.users"))
