"""Dates, times and numbers written as the person's language writes them, the way they are
written in Brussels: Dutch as in Belgium (26/11/2026, not 26-11-2026), English as in Britain
(26/11/2026 21:05, not 11/26/26 9:05 PM), French as Babel's French. The scripts do the same
(offline.js: fr-BE, nl-BE, en-GB).

The same names and arguments as Flask-Babel's functions (times in the app's time zone,
``BABEL_DEFAULT_TIMEZONE``), so that either can be imported; outside a request (command line),
French.
"""

from __future__ import annotations

from babel import Locale, dates, numbers
from flask import has_app_context
from flask_babel import get_locale, get_timezone

# The language's writing of dates and numbers in Brussels, when it is not Babel's default.
REGIONAL = {"nl": "nl_BE", "en": "en_GB"}


def formatting_locale() -> Locale:
    current = get_locale() if has_app_context() else None
    language = current.language if current is not None else "fr"
    return Locale.parse(REGIONAL.get(language, language))


def _zone():
    return get_timezone() if has_app_context() else None


def format_datetime(value, format: str = "medium") -> str:  # noqa: A002 (Babel's name)
    return dates.format_datetime(value, format, tzinfo=_zone(), locale=formatting_locale())


def format_date(value, format: str = "medium") -> str:  # noqa: A002
    return dates.format_date(value, format, locale=formatting_locale())


def format_time(value, format: str = "medium") -> str:  # noqa: A002
    return dates.format_time(value, format, tzinfo=_zone(), locale=formatting_locale())


def format_decimal(value, format: str | None = None) -> str:  # noqa: A002
    return numbers.format_decimal(value, format, locale=formatting_locale())
