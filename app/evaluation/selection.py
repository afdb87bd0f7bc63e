"""Reading "which neighbourhoods, which period" from a request, the same way for the
dashboard, the exports and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..models import Role
from ..web import local_now
from .engine import Period

PERIOD_KINDS = ("month", "quarter", "year", "custom")
MAX_DAYS = 366 * 6


@dataclass
class Selection:
    neighbourhoods: list
    kind: str
    period: Period
    year: int
    month: int
    quarter: int
    problem: str | None = None

    def query(self) -> dict:
        """The query string that reproduces this selection (links, exports)."""
        args = {"n": [n.code for n in self.neighbourhoods], "period": self.kind,
                "year": self.year, "month": self.month, "quarter": self.quarter}
        if self.kind == "custom":
            args.update({"from": self.period.start.isoformat(),
                         "to": self.period.end.isoformat()})
        return args


def _int(value, default: int, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default


def month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _day(value, *, last: bool = False) -> date | None:
    """A day (YYYY-MM-DD), or a month (YYYY-MM, as a month field sends it): its first day,
    or its last with `last`."""
    try:
        if isinstance(value, str) and len(value) == 7:
            first = date.fromisoformat(value + "-01")
            return month_end(first) if last else first
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def inside_the_team(user) -> bool:
    """Whether the figures this person reads stay within the neighbourhood team: a field
    worker reads the records of their own neighbourhoods anyway (`read` gives no other), so
    their screen may be exact and day-precise. Everyone else is outside the team."""
    return user.role == Role.FIELD_WORKER


def whole_months_only(user) -> bool:
    """Outside the neighbourhood team, a period is made of whole calendar months: a
    day-precise period gives little to the evaluation and much to someone subtracting two
    figures to find one person."""
    return not inside_the_team(user)


def read(args, *, strict: bool = False) -> Selection:
    """`strict` (the API) refuses what a page would quietly correct."""
    mine = {n.code: n for n in current_user.neighbourhoods}
    codes = args.getlist("n") or args.getlist("neighbourhood")
    unknown = [c for c in codes if c not in mine]
    if unknown:
        abort(404)  # a neighbourhood one does not coordinate does not exist for them
    neighbourhoods = [mine[c] for c in codes] if codes else list(mine.values())
    today = local_now().date()
    kind = args.get("period") or ("custom" if args.get("from") else "year")
    if kind not in PERIOD_KINDS:
        kind = "year"
    year = _int(args.get("year"), today.year, 2000, 2100)
    month = _int(args.get("month"), today.month, 1, 12)
    quarter = _int(args.get("quarter"), (today.month - 1) // 3 + 1, 1, 4)
    problem = None
    if kind == "month":
        start = date(year, month, 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    elif kind == "quarter":
        start = date(year, 3 * quarter - 2, 1)
        end = (date(year, 3 * quarter, 1) + timedelta(days=32)).replace(day=1) \
            - timedelta(days=1)
    elif kind == "custom":
        start, end = _day(args.get("from")), _day(args.get("to"), last=True)
        if start is None or end is None or end < start or (end - start).days > MAX_DAYS:
            problem = str(_l("Période personnalisée non valide : une date de début et une "
                             "date de fin (au plus 6 ans), la fin après le début."))
        elif whole_months_only(current_user) and (start.day != 1 or end != month_end(end)):
            problem = str(_l("Pour protéger les personnes, une période commence le premier "
                             "jour d'un mois et finit le dernier jour d'un mois (le mois en "
                             "cours compte jusqu'à aujourd'hui)."))
        if problem:
            start, end = date(today.year, 1, 1), date(today.year, 12, 31)
            kind = "year"
    else:
        start, end = date(year, 1, 1), date(year, 12, 31)
    if strict and problem:
        from ..validation import Invalid

        raise Invalid({"from": [problem]})
    return Selection(neighbourhoods, kind, Period(start, end), year, month, quarter, problem)
