"""The coordinator dashboard: every plan's objectives with their indicators for a period and
the same period a year before, the cross-tables and the series of the charts — all of it
suppressed before anybody sees it."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import vocab
from ..extensions import db
from ..models import Indicator, Neighbourhood, Objective
from . import blocks
from .engine import Period
from .suppression import Cell, Table, suppress_rate, suppress_table, suppress_value

PLAN_TITLES = {
    "RAQ": _l("Missions des Relais d'action de quartier"),
    "COL": _l("Plan d'action CLSS Colignon 2022-2025"),
    "MAR": _l("Projets CLSS Marolles"),
}
# Counts about people are suppressed; hours of presence, numbers of services or of collective
# actions single nobody out.
NOT_ABOUT_PEOPLE = {("outing", "hours"), ("outing", "count"), ("referral", "distinct_services"),
                    ("collective_action", "count"), ("collective_action", "participants")}


def suppression_k() -> int:
    return int(current_app.config["SUPPRESSION_K"])


def publish(indicator: Indicator, raw, k: int) -> Cell:
    if indicator.measure == "rate_taken_up":
        taken_up, closed = raw
        return suppress_rate(taken_up, closed, k)
    if (indicator.record, indicator.measure) in NOT_ABOUT_PEOPLE:
        return Cell(raw)
    return suppress_value(raw, k)


@dataclass
class Figure:
    indicator: Indicator
    current: Cell
    previous: Cell


@dataclass
class ObjectiveBlock:
    objective: Objective
    figures: list[Figure] = field(default_factory=list)


@dataclass
class PlanBlock:
    plan: str
    title: str
    objectives: list[ObjectiveBlock] = field(default_factory=list)


@dataclass
class Dashboard:
    period: Period
    neighbourhoods: list[Neighbourhood]
    k: int
    plans: list[PlanBlock]
    figures: list[Figure]
    people_by_month: list[tuple[Period, Cell]]
    theme_month: Table
    situation_neighbourhood: Table
    outcome_category: Table


def active_indicators() -> list[Indicator]:
    return list(db.session.scalars(
        select(Indicator).join(Objective).where(Indicator.active.is_(True))
        .order_by(Objective.plan, Objective.position, Indicator.position)))


def _figures(indicators, current: blocks.Totals, previous: blocks.Totals,
             k: int) -> list[Figure]:
    return [Figure(i, publish(i, current.indicators[i.code], k),
                   publish(i, previous.indicators[i.code], k)) for i in indicators]


def _totals(neighbourhood_ids, period: Period):
    """The active indicators, with the totals of the period and of the year before."""
    indicators = active_indicators()
    return (indicators, blocks.totals(indicators, neighbourhood_ids, period),
            blocks.totals(indicators, neighbourhood_ids, period.year_before()))


def indicator_figures(neighbourhood_ids, period: Period, k: int) -> list[Figure]:
    return _figures(*_totals(neighbourhood_ids, period), k)


def _plans(figures: list[Figure]) -> list[PlanBlock]:
    objectives = db.session.scalars(
        select(Objective).order_by(Objective.plan, Objective.position)).all()
    by_objective: dict[int, list[Figure]] = {}
    for figure in figures:
        by_objective.setdefault(figure.indicator.objective_id, []).append(figure)
    plans: dict[str, PlanBlock] = {}
    for objective in objectives:
        block = plans.setdefault(objective.plan, PlanBlock(
            objective.plan, PLAN_TITLES.get(objective.plan, objective.plan)))
        block.objectives.append(ObjectiveBlock(objective, by_objective.get(objective.id, [])))
    order = list(PLAN_TITLES)
    return sorted(plans.values(), key=lambda p: (order.index(p.plan) if p.plan in order
                                                 else len(order), p.plan))


def theme_month_table(totals: blocks.Totals, period: Period, k: int) -> Table:
    months = period.months()
    themes = [t.code for t in vocab.terms("theme", include_inactive=True)]
    return suppress_table(themes, months, [
        [totals.theme_month.get((code, m.start.strftime("%Y-%m")), 0) for m in months]
        for code in themes], k)


def situation_neighbourhood_table(totals: blocks.Totals, neighbourhoods, k: int) -> Table:
    situations = [t.code for t in vocab.terms("situation", include_inactive=True)]
    return suppress_table(situations, neighbourhoods, [
        [totals.situation_neighbourhood.get((s, n.id), 0) for n in neighbourhoods]
        for s in situations], k)


def outcome_category_table(totals: blocks.Totals, k: int) -> Table:
    data = totals.outcome_category
    outcomes = [t.code for t in vocab.terms("referral_outcome", include_inactive=True)] + \
        ["en_cours"]
    categories = [t.code for t in vocab.terms("org_category", include_inactive=True)]
    if any(c == "" for _, c in data):
        categories.append("")
    return suppress_table(outcomes, categories,
                          [[data.get((o, c), 0) for c in categories] for o in outcomes], k)


def build(neighbourhoods: list[Neighbourhood], period: Period) -> Dashboard:
    k = suppression_k()
    indicators, current, previous = _totals([n.id for n in neighbourhoods], period)
    figures = _figures(indicators, current, previous, k)
    return Dashboard(
        period=period, neighbourhoods=neighbourhoods, k=k, plans=_plans(figures),
        figures=figures,
        people_by_month=[(m, suppress_value(current.people_by_month.get(
            m.start.strftime("%Y-%m"), 0), k)) for m in period.months()],
        theme_month=theme_month_table(current, period, k),
        situation_neighbourhood=situation_neighbourhood_table(current, neighbourhoods, k),
        outcome_category=outcome_category_table(current, k),
    )


def _ranked(pairs, limit: int | None = None) -> list[tuple[str, Cell]]:
    """Non-zero items, largest first (a hidden one counts as k−1 for the order)."""
    items = [(label, cell) for label, cell in pairs if cell.value]
    items.sort(key=lambda item: -item[1].value)
    return items[:limit] if limit else items


def charts(board: Dashboard) -> dict[str, list[tuple[str, Cell]]]:
    themes = vocab.labels_for("theme")
    situations = vocab.labels_for("situation")
    outcomes = {**vocab.labels_for("referral_outcome"), "en_cours": str(_l("En cours"))}
    categories = {**vocab.labels_for("org_category"), "": str(_l("Sans catégorie"))}
    outcome_table = board.outcome_category
    saturated = next((cells for key, cells, _ in outcome_table.rows()
                      if key == "service_sature"), [])
    return {
        "months": [(m.start.strftime("%m" if len(board.people_by_month) > 6 else "%m/%y"), cell)
                   for m, cell in board.people_by_month],
        "themes": _ranked(((themes.get(key, key), total)
                           for key, _, total in board.theme_month.rows()), 10),
        "situations": _ranked(((situations.get(key, key), total)
                               for key, _, total in board.situation_neighbourhood.rows()), 10),
        "outcomes": _ranked((outcomes.get(key, key), total)
                            for key, _, total in outcome_table.rows()),
        "saturation": _ranked((categories.get(key, key), cell)
                              for key, cell in zip(outcome_table.col_keys, saturated,
                                                   strict=False)),
    }
