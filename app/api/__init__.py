"""JSON API under /api/v1: the offline queue and integrations use it."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from . import people, routes  # noqa: E402,F401  (people: the person's rights, issue 14)
