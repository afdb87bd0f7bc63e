"""The printed evaluation reads like a report (issue 15, item 4): at 1280 px text is left and
figures right in tabular numbers, plans and objectives are headings with their indicators
under them, only a real total is bold, and on A4 every column is on the page.

The report needs figures: this module runs its own server on the demo data (app.demo), so
that the other browser tests keep their small world."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Objective

from .conftest import SCREENSHOTS, make_app, serving

COORDINATOR = "coordination@relais.demo"
# A4 portrait less the @page margins of print.css (12 mm each side), in CSS pixels.
A4_PRINTABLE_WIDTH = (210 - 2 * 12) / 25.4 * 96


@pytest.fixture(scope="module")
def report_server():
    from app.demo import DEMO_PASSWORD, load_demo

    app, folder = make_app("print")
    with app.app_context():
        load_demo(contact_count=150)
        from app.evaluation import dashboard

        plans = sorted({str(dashboard.PLAN_TITLES.get(o.plan, o.plan))
                        for o in db.session.scalars(db.select(Objective))})
        db.session.remove()
    with serving(app, folder) as url:
        yield url, DEMO_PASSWORD, plans


@pytest.fixture
def report(chromium, report_server):
    base, password, plans = report_server
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-BE",
                                   timezone_id="Europe/Brussels", service_workers="block")
    context.set_default_timeout(30000)
    page = context.new_page()
    page.goto(f"{base}/login?next=/evaluation/print")
    page.fill("input[name=email]", COORDINATOR)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/evaluation/print")
    page.plans = plans
    yield page
    context.close()


CELLS = """() => Array.from(document.querySelectorAll('table th, table td')).map(cell => {
  const style = getComputedStyle(cell);
  return {cls: cell.className, align: style.textAlign, weight: parseInt(style.fontWeight, 10),
          numeric: style.fontVariantNumeric, text: cell.textContent.trim(),
          section: cell.parentElement.parentElement.tagName.toLowerCase(),
          group: cell.parentElement.classList.contains('group')};
})"""


def test_text_left_figures_right_bold_only_for_totals(report):
    page = report
    cells = page.evaluate(CELLS)
    text = [c for c in cells if "text" in c["cls"].split()]
    figures = [c for c in cells if "figure" in c["cls"].split()]
    assert len(text) > 20 and len(figures) > 40
    assert {c["align"] for c in text} == {"left"}, "a text cell is not left-aligned"
    assert {c["align"] for c in figures} == {"right"}, "a figure is not right-aligned"
    assert all("tabular-nums" in c["numeric"] for c in figures)
    # Every cell is text or a figure, but the heading rows of plans and objectives.
    assert all(c["group"] or c in text or c in figures for c in cells)
    # No row but a total is bold: the rows of the body are normal weight...
    body = [c for c in cells if c["section"] == "tbody"]
    assert body and all(c["weight"] < 600 for c in body), "a row that is no total is bold"
    # ...and the totals are the cross-tables' last rows, in <tfoot>, and bold.
    totals = [c for c in cells if c["section"] == "tfoot"]
    assert totals and all(c["weight"] >= 600 for c in totals)
    assert page.locator("tfoot").count() == 3  # the indicators have no total
    assert page.locator("tfoot tr th").all_inner_texts() == ["Total"] * 3
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "print-report-1280.png"), full_page=True)


def test_plans_and_objectives_are_headings_with_their_indicators(report):
    page = report
    assert page.locator("h3").all_inner_texts() == page.locator(
        "section.indicators tbody.plan tr.group:first-child h3").all_inner_texts()
    assert sorted(page.locator("h3").all_inner_texts()) == page.plans
    assert page.locator("h4").count() >= 3
    # Each plan's body begins with its heading; every indicator comes after an objective.
    order = page.evaluate("""() => Array.from(document.querySelectorAll(
        'section.indicators tbody.plan')).map(body => Array.from(body.rows).map(
        row => row.querySelector('h3') ? 'plan' : row.querySelector('h4') ? 'objective'
                                                  : 'indicator'))""")
    for rows in order:
        assert rows[0] == "plan" and rows[1] == "objective"
    assert any("indicator" in rows for rows in order)
    # What the figures mean stays with them: suppressed cells and the notice.
    content = page.inner_text("main")
    assert "<5" in content
    assert "légèrement perturbés" in content


def test_every_column_fits_the_a4_page(report):
    page = report
    page.emulate_media(media="print")
    page.set_viewport_size({"width": int(A4_PRINTABLE_WIDTH), "height": 1000})
    widths = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        tables: Array.from(document.querySelectorAll('table')).map(t => {
            const box = t.getBoundingClientRect();
            return {left: box.left, right: box.right, scroll: t.scrollWidth};
        })})""")
    assert widths["page"] <= A4_PRINTABLE_WIDTH
    for table in widths["tables"]:
        assert table["left"] >= 0 and table["right"] <= A4_PRINTABLE_WIDTH + 0.5, table
    # What Chromium prints (kept beside the screenshots, to look at).
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "print-report.pdf").write_bytes(pdf)
