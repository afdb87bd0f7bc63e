"""Home pages of coordinators, partners and administrators."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import audit_log, neighbourhoods, routes, users, vocabularies  # noqa: E402,F401
