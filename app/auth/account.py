"""The person's own account: the sessions they have open, each of which they can end,
"sign out everywhere else" (a phone left behind, a shared computer), their password and
their language."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import audit
from ..extensions import db
from . import bp, sessions, throttle
from .forms import ChangePasswordForm
from .passwords import hash_password, password_problems, verify_password


def _other_sessions_ended() -> int:
    current = sessions.current_record()
    return sessions.end_sessions(current_user.id,
                                 except_id=current.id if current is not None else None)


@bp.get("/account")
@login_required
def account():
    current = sessions.current_record()
    rows = sessions.sessions_of(current_user.id)
    return render_template("auth/account.html", current=current, rows=rows,
                           public_id=sessions.public_id,
                           two_factor_required=current_user.role in
                           current_app.config["TWO_FACTOR_REQUIRED_ROLES"])


@bp.post("/account/sessions/end")
@login_required
def end_session():
    """End one of the person's other sessions, named by its public id."""
    wanted = request.form.get("session", "")
    current = sessions.current_record()
    found = next((row for row in sessions.sessions_of(current_user.id)
                  if sessions.public_id(row) == wanted), None)
    if found is None or (current is not None and found.id == current.id):
        abort(404)  # someone else's, already ended, or this one (that is "sign out")
    db.session.delete(found)
    audit.record("session_ended", detail={"device": found.device})
    db.session.commit()
    flash(_("La session a été fermée : cet appareil devra se reconnecter."), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    ended = _other_sessions_ended()
    audit.record("sessions_ended", detail={"count": ended})
    db.session.commit()
    flash(_("Vos autres sessions ont été fermées (%(count)d).", count=ended), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    """A new password, given the current one; the person's other sessions end (whoever
    knew the old password is signed out), this one goes on.

    A wrong current password counts toward the sign-in throttle like a failed sign-in: an
    open session left on a shared computer is no way to guess the password faster."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        attempt = throttle.Attempt.of(current_user.email)
        if throttle.refusal(attempt, current_user) is not None:
            raise throttle.SignInThrottled()
        if not verify_password(current_user.password_hash, form.current_password.data):
            throttle.failed(attempt)
            audit.record_now("password_change_failed")
            form.current_password.errors.append(_("Ce n'est pas votre mot de passe actuel."))
        else:
            problems = password_problems(
                form.new_password.data,
                user_inputs=(current_user.email, current_user.display_name))
            if form.new_password.data == form.current_password.data:
                problems = [_("Choisissez un mot de passe différent de l'actuel.")]
            if problems:
                form.new_password.errors.extend(problems)
            else:
                current_user.password_hash = hash_password(form.new_password.data)
                ended = _other_sessions_ended()
                audit.record("password_changed", detail={"sessions_ended": ended})
                db.session.commit()
                flash(_("Mot de passe changé. Vos autres appareils devront se reconnecter."),
                      "success")
                return redirect(url_for("auth.account"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status
