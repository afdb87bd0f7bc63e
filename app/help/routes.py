"""/help: the current person's role page (signed out: a page that links to each role);
/help/<role>: one role's page. The page is chosen by the current locale, French otherwise.
No page holds personal data: they are the same for everybody of a role and a language."""

from __future__ import annotations

from flask import abort, current_app, render_template
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..models import Role
from . import bp

ROLE_TITLES = {
    Role.FIELD_WORKER.value: _l("Travail de terrain"),
    Role.COORDINATOR.value: _l("Coordination"),
    Role.PARTNER.value: _l("Services partenaires"),
    Role.ADMIN.value: _l("Administration"),
}
FALLBACK = "fr"


def _language() -> str:
    locale = get_locale()
    language = locale.language if locale is not None else FALLBACK
    return language if language in current_app.config["LANGUAGES"] else FALLBACK


def _render(page: str, role: str | None):
    language = _language()
    names = [f"help/{language}/{page}.html"]
    if language != FALLBACK:
        names.append(f"help/{FALLBACK}/{page}.html")
    return render_template(names, role=role, roles=ROLE_TITLES)


@bp.get("/help")
def index():
    if current_user.is_authenticated:
        role = Role(current_user.role).value
        return _render(role, role)
    return _render("index", None)


@bp.get("/help/<role>")
def role_page(role: str):
    if role not in ROLE_TITLES:
        abort(404)
    return _render(role, role)
