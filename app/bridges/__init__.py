"""Bridge follow-ups (suivis-pont) and the history behind a person code."""

from flask import Blueprint

bp = Blueprint("bridges", __name__)

from . import routes  # noqa: E402,F401
