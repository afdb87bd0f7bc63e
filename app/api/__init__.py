"""JSON API under /api/v1: the offline queue and integrations use it."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from . import routes  # noqa: E402,F401
