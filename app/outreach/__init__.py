"""The field worker's screens: today, outings, contacts."""

from flask import Blueprint

bp = Blueprint("outreach", __name__)

from . import routes  # noqa: E402,F401
