"""The coordinator dashboard: every plan's objectives with their indicators for a period and
the same period a year before, the cross-tables and the series of the charts — all of it
perturbed (when it leaves the team) and suppressed before anybody sees it.

What each kind of figure gets is written in docs/decisions.md ("Figures that cannot be taken
apart"): every count about people is perturbed by its cell key (app.evaluation.perturbation)
and then suppressed; a total is perturbed as a cell of its own; a rate is made of its two
perturbed counts; the year before is treated exactly like the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import vocab
from ..extensions import db
from ..models import Indicator, Neighbourhood, Objective
from . import blocks, perturbation
from .engine import Period
from .perturbation import ZERO, Tally
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


def released(value, perturbed: bool):
    """A figure as it is shown: a Tally perturbed by its cell key (or its exact count, for
    the team itself); any other figure as it is."""
    if isinstance(value, Tally):
        return perturbation.perturbed(value) if perturbed else value.n
    return value


def publish(indicator: Indicator, raw, k: int, perturbed: bool = True) -> Cell:
    if indicator.measure == "rate_taken_up":
        # A rate is made of its perturbed parts; no more taken up than closed.
        taken_up, closed = (released(part, perturbed) for part in raw)
        return suppress_rate(min(taken_up, closed), closed, k)
    value = released(raw, perturbed)
    if (indicator.record, indicator.measure) in NOT_ABOUT_PEOPLE:
        return Cell(value)
    return suppress_value(value, k)


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
    perturbed: bool
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
             k: int, perturbed: bool) -> list[Figure]:
    return [Figure(i, publish(i, current.indicators[i.code], k, perturbed),
                   publish(i, previous.indicators[i.code], k, perturbed)) for i in indicators]


def _totals(neighbourhood_ids, period: Period):
    """The active indicators, with the totals of the period and of the year before."""
    indicators = active_indicators()
    return (indicators, blocks.totals(indicators, neighbourhood_ids, period),
            blocks.totals(indicators, neighbourhood_ids, period.year_before()))


def indicator_figures(neighbourhood_ids, period: Period, k: int,
                      perturbed: bool = True) -> list[Figure]:
    return _figures(*_totals(neighbourhood_ids, period), k, perturbed)


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


def publish_table(row_keys: list, col_keys: list, tallies: list[list[Tally]], k: int,
                  perturbed: bool) -> Table:
    """A cross-table ready to show: every cell, every row and column total and the grand
    total perturbed as cells of their own (a total is the count of its own records, with
    their keys), then suppressed with its complements."""
    row_sums = [sum(row, ZERO) for row in tallies]
    col_sums = [sum((row[c] for row in tallies), ZERO) for c in range(len(col_keys))]
    total = sum(row_sums, ZERO)

    def shown(tally: Tally) -> int:
        return released(tally, perturbed)

    return suppress_table(row_keys, col_keys, [[shown(t) for t in row] for row in tallies], k,
                          totals=([shown(t) for t in row_sums], [shown(t) for t in col_sums],
                                  shown(total)))


def theme_month_table(totals: blocks.Totals, period: Period, k: int,
                      perturbed: bool = True) -> Table:
    months = period.months()
    themes = [t.code for t in vocab.terms("theme", include_inactive=True)]
    return publish_table(themes, months, [
        [totals.theme_month.get((code, m.start.strftime("%Y-%m")), ZERO) for m in months]
        for code in themes], k, perturbed)


def situation_neighbourhood_table(totals: blocks.Totals, neighbourhoods, k: int,
                                  perturbed: bool = True) -> Table:
    situations = [t.code for t in vocab.terms("situation", include_inactive=True)]
    return publish_table(situations, neighbourhoods, [
        [totals.situation_neighbourhood.get((s, n.id), ZERO) for n in neighbourhoods]
        for s in situations], k, perturbed)


def outcome_category_table(totals: blocks.Totals, k: int, perturbed: bool = True) -> Table:
    data = totals.outcome_category
    outcomes = [t.code for t in vocab.terms("referral_outcome", include_inactive=True)] + \
        ["en_cours"]
    categories = [t.code for t in vocab.terms("org_category", include_inactive=True)]
    if any(c == "" for _, c in data):
        categories.append("")
    return publish_table(outcomes, categories,
                         [[data.get((o, c), ZERO) for c in categories] for o in outcomes], k,
                         perturbed)


def build(neighbourhoods: list[Neighbourhood], period: Period, *,
          perturbed: bool = True) -> Dashboard:
    """Every figure of the neighbourhoods over the period; `perturbed` unless the figures
    stay within the team that can read the records (selection.inside_the_team)."""
    k = suppression_k()
    indicators, current, previous = _totals([n.id for n in neighbourhoods], period)
    figures = _figures(indicators, current, previous, k, perturbed)
    return Dashboard(
        period=period, neighbourhoods=neighbourhoods, k=k, perturbed=perturbed,
        plans=_plans(figures), figures=figures,
        people_by_month=[(m, suppress_value(released(current.people_by_month.get(
            m.start.strftime("%Y-%m"), ZERO), perturbed), k)) for m in period.months()],
        theme_month=theme_month_table(current, period, k, perturbed),
        situation_neighbourhood=situation_neighbourhood_table(current, neighbourhoods, k,
                                                              perturbed),
        outcome_category=outcome_category_table(current, k, perturbed),
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
