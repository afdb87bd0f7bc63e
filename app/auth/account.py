"""The person's own account: the sessions they have open, each of which they can end, and
"sign out everywhere else" (a phone left behind, a shared computer)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from .. import audit
from ..extensions import db
from . import bp, sessions


@bp.get("/account")
@login_required
def account():
    current = sessions.current_record()
    rows = sessions.sessions_of(current_user.id)
    return render_template("auth/account.html", current=current, rows=rows,
                           public_id=sessions.public_id)


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
    current = sessions.current_record()
    ended = sessions.end_sessions(current_user.id,
                                  except_id=current.id if current is not None else None)
    audit.record("sessions_ended", detail={"count": ended})
    db.session.commit()
    flash(_("Vos autres sessions ont été fermées (%(count)d).", count=ended), "success")
    return redirect(url_for("auth.account"))
