"""Signing in and out."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import account, links, routes, two_factor  # noqa: E402,F401
