"""Pages of the person's rights. The code always travels in the body of a POST (never in an
address), is never shown back, and is kept nowhere but in the hidden field of the
confirmation form the worker is looking at."""

from __future__ import annotations

from flask import abort, make_response, render_template, request
from flask_babel import gettext as _

from ..access import role_required
from ..models import Role
from ..web import local_now
from . import bp
from .service import BadCode, code_hash_of, forget, kept_for, looked_up

worker_only = role_required(Role.FIELD_WORKER)


def _code_or_form():
    """(raw code, its HMAC) from the posted form, or the form again with a message (422)."""
    raw = request.form.get("person_code", "")
    try:
        return raw.strip(), code_hash_of(raw)
    except BadCode as exc:
        abort(make_response(render_template(
            "people/ask.html", errors={"person_code": [exc.message]}), 422))


@bp.get("/people")
@worker_only
def ask():
    return render_template("people/ask.html", errors={})


@bp.post("/people")
@worker_only
def lookup():
    raw, code_hash = _code_or_form()
    kept = kept_for(code_hash)
    looked_up(kept, via="page")
    return render_template("people/kept.html", kept=kept, person_code=raw,
                           printed_on=local_now())


@bp.post("/people/forget")
@worker_only
def forget_person():
    raw, code_hash = _code_or_form()
    kept = kept_for(code_hash)
    if kept.empty:
        # For this worker, nothing of this code exists: as on the API, 404.
        return render_template("people/ask.html", errors={}, nothing=True), 404
    if request.form.get("stage") != "confirm":
        return render_template("people/confirm.html", kept=kept, person_code=raw, errors={})
    if request.form.get("requested") != "yes":
        return render_template("people/confirm.html", kept=kept, person_code=raw, errors={
            "requested": [_("Cochez la case : on n'oublie une personne qu'à sa demande.")]}), 422
    result = forget(code_hash, via="page")
    return render_template("people/forgotten.html", result=result)
