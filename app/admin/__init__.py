"""Home pages of coordinators, partners and administrators."""

from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import routes, users  # noqa: E402,F401
