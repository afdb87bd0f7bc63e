"""Night and sunlight (issue 15, item 3): the theme a person chooses (automatic, light, dark)
is kept in the session and written on <html data-theme> by the server, so the page never
flashes the wrong colours; and every palette of app/static/css/theme.css keeps WCAG AA
contrast, computed here from the CSS itself (the browser test checks the rendered pages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.extensions import db
from app.models import User

from .conftest import csrf_from, login

CSS = Path(__file__).resolve().parent.parent / "app" / "static" / "css"


# --- the palettes, read from the CSS ------------------------------------------------------

def _rules(css: str) -> list[tuple[tuple[str, ...], str, str]]:
    """(enclosing at-rule preludes, selector, body) of every innermost rule."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found, stack, buf = [], [], ""
    for char in css:
        if char == "{":
            stack.append(" ".join(buf.split()))
            buf = ""
        elif char == "}":
            selector = stack.pop()
            if buf.strip():
                found.append((tuple(stack), selector, buf))
            buf = ""
        else:
            buf += char
    return found


def _variables(body: str) -> dict[str, str]:
    return {name: value.strip() for name, value in re.findall(r"(--[\w-]+)\s*:\s*([^;]+)", body)}


def _block(rules, media: tuple[str, ...], selector: str) -> dict[str, str]:
    matches = [_variables(body) for ctx, sel, body in rules if ctx == media and sel == selector]
    assert len(matches) == 1, f"one {selector} block under {media} expected"
    return matches[0]


def _resolve(palette: dict[str, str]) -> dict[str, str]:
    def value(name: str, depth: int = 0) -> str:
        assert depth < 5, f"var() loop at {name}"
        return re.sub(r"var\((--[\w-]+)\)", lambda m: value(m.group(1), depth + 1),
                      palette[name])

    return {name: value(name) for name in palette}


def palettes() -> dict[str, dict[str, str]]:
    app_rules = _rules((CSS / "app.css").read_text(encoding="utf-8"))
    theme_rules = _rules((CSS / "theme.css").read_text(encoding="utf-8"))
    dark_media = ("@media screen and (prefers-color-scheme: dark)",)
    hc_media = ("@media (prefers-contrast: more)",)
    hc_dark_media = ("@media screen and (prefers-contrast: more) and (prefers-color-scheme: dark)",)
    auto, chosen = ':root:not([data-theme="light"])', ':root[data-theme="dark"]'

    light = {**_block(app_rules, (), ":root"), **_block(theme_rules, (), ":root")}
    dark = _block(theme_rules, dark_media, auto)
    assert dark == _block(theme_rules, ("@media screen",), chosen), \
        "the dark palette of the phone's setting and of the person's choice differ"
    hc_dark = _block(theme_rules, hc_dark_media, auto)
    assert hc_dark == _block(theme_rules, ("@media screen and (prefers-contrast: more)",),
                             chosen), "the two high-contrast dark palettes differ"
    return {
        "light": _resolve(light),
        "dark": _resolve({**light, **dark}),
        "light, more contrast": _resolve({**light, **_block(theme_rules, hc_media, ":root")}),
        "dark, more contrast": _resolve({**light, **dark, **hc_dark}),
    }


def _luminance(colour: str) -> float:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = []
    for i in (0, 2, 4):
        c = int(colour[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT, UI = 4.5, 3.0
# (foreground, background, minimum, where): every pair the stylesheets put together.
PAIRS = [
    ("--ink", "--bg", TEXT, "body text"),
    ("--ink", "--card", TEXT, "text on cards, tab bar"),
    ("--muted", "--bg", TEXT, "hints, dates"),
    ("--muted", "--card", TEXT, "hints on cards, tab bar labels, language buttons"),
    ("--brand", "--bg", TEXT, "links"),
    ("--muted", "--field-bg", TEXT, "the 'none' chip"),
    ("--error", "--bg", TEXT, "errors on the page"),
    ("--brand", "--card", TEXT, "links and secondary buttons on cards, current tab"),
    ("--brand-ink", "--brand", TEXT, "primary buttons, selected chips, + Contact tab"),
    ("--bar-ink", "--bar-bg", TEXT, "top bar"),
    ("--ink", "--field-bg", TEXT, "typed text"),
    ("--ink", "--ok-bg", TEXT, "success flash"),
    ("--error", "--error-bg", TEXT, "error flash, late badge"),
    ("--error", "--card", TEXT, "field errors"),
    ("--on-error", "--error", TEXT, "danger button"),
    ("--warn-ink", "--warn-bg", TEXT, "warning flash and hint, proposed badge"),
    ("--info-ink", "--info-bg", TEXT, "sent badge"),
    ("--info-ink", "--card", TEXT, "new counter"),
    ("--brand", "--accent", TEXT, "received badge, counters, stepper"),
    ("--ink", "--accent", TEXT, "open outing card, picked row"),
    ("--muted", "--accent", TEXT, "small text of a picked row"),
    ("--ink", "--neutral-bg", TEXT, "badge, 'none' chip chosen"),
    ("--muted", "--neutral-bg", TEXT, "closed badge"),
    ("--ink", "--note-bg", TEXT, "notes"),
    ("--conflict-ink", "--conflict-bg", TEXT, "conflict heading"),
    ("--conflict-ink", "--card", TEXT, "queue: to resolve"),
    ("--ink", "--conflict-bg", TEXT, "conflict text"),
    ("--field-line", "--field-bg", UI, "field and chip borders"),
    ("--field-line", "--card", UI, "field borders on cards"),
    ("--field-line", "--bg", UI, "field borders on the page"),
    ("--focus", "--bg", UI, "focus ring"),
    ("--focus", "--card", UI, "focus ring on cards"),
    ("--brand", "--card", UI, "button borders, chosen chip"),
    ("--error", "--field-bg", UI, "border of a field in error"),
]


def contrast_table() -> list[tuple[str, str, str, float, float]]:
    """(palette, pair, where, ratio, minimum) for every pair of every palette."""
    return [(name, f"{fg} on {bg}", where, contrast(palette[fg], palette[bg]), minimum)
            for name, palette in palettes().items() for fg, bg, minimum, where in PAIRS]


def test_every_palette_keeps_aa_contrast():
    failures = [row for row in contrast_table() if row[3] < row[4]]
    assert failures == []


def test_the_dark_palettes_redefine_every_colour_of_the_light_one():
    """A colour left out of a dark palette would stay light-theme on a dark page."""
    found = palettes()
    colours = {k for k, v in found["light"].items() if v.startswith(("#", "rgb"))}
    for name in ("dark", "light, more contrast", "dark, more contrast"):
        same = {k for k in colours if found[name][k] == found["light"][k]}
        assert same <= {"--field-bg", "--on-error", "--bar-ink", "--brand-ink", "--card"}, name


def test_every_layout_loads_the_theme_after_app_css():
    templates = Path(__file__).resolve().parent.parent / "app" / "templates"
    for name in ("base.html", "offline_base.html"):  # print.html: paper, stays light
        text = (templates / name).read_text(encoding="utf-8")
        assert text.index("css/app.css") < text.index("css/theme.css"), name


# --- the choice ---------------------------------------------------------------------------

def _choose(client, theme, next_url="/login", page="/login"):
    token = csrf_from(client.get(page).text)
    return client.post("/theme", data={"theme": theme, "next": next_url, "csrf_token": token})


def _html_tag(text: str) -> str:
    return re.search(r"<html[^>]*>", text).group(0)


def test_automatic_by_default(app):
    client = app.test_client()
    assert "data-theme" not in _html_tag(client.get("/login").text)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_choice_is_kept_in_the_session_and_written_on_html(app, theme):
    client = app.test_client()
    response = _choose(client, theme)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    with client.session_transaction() as session:
        assert session["theme"] == theme
    assert f'data-theme="{theme}"' in _html_tag(client.get("/login").text)
    # The offline pages are shared by everybody who uses the phone: they follow the phone.
    assert "data-theme" not in _html_tag(client.get("/offline").text)


def test_automatic_forgets_the_choice(app):
    client = app.test_client()
    _choose(client, "dark")
    assert _choose(client, "auto").status_code == 302
    with client.session_transaction() as session:
        assert "theme" not in session
    assert "data-theme" not in _html_tag(client.get("/login").text)


@pytest.mark.parametrize("bad", ["", "blue", "dark\" onload=\"x", "DARK", "x" * 500])
def test_a_bad_value_changes_nothing_and_never_fails(app, bad):
    client = app.test_client()
    _choose(client, "dark")
    response = _choose(client, bad)
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert session["theme"] == "dark"
    tag = _html_tag(client.get("/login").text)
    assert 'data-theme="dark"' in tag and "onload" not in tag


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)", ""])
def test_next_never_leaves_the_site(app, target):
    response = _choose(app.test_client(), "dark", next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_without_csrf_token_refused(app):
    response = app.test_client().post("/theme", data={"theme": "dark", "next": "/login"})
    assert response.status_code == 400


def test_signed_in_the_account_offers_the_three_choices(app, world):
    client = app.test_client()
    login(client, world.worker.key)
    page = client.get("/account").text
    for value in ("auto", "light", "dark"):
        assert f'name="theme" value="{value}"' in page
    assert 'value="auto" aria-pressed="true"' in page
    response = _choose(client, "dark", next_url="/account", page="/account")
    assert response.headers["Location"] == "/account"
    page = client.get("/account").text
    assert 'data-theme="dark"' in _html_tag(page)
    assert 'value="dark" aria-pressed="true"' in page
    assert 'data-theme="dark"' in _html_tag(client.get("/today").text)


def test_the_persons_choice_follows_them_to_every_device(app, world):
    laptop = app.test_client()
    login(laptop, world.worker.key)
    _choose(laptop, "dark", next_url="/account", page="/account")
    with app.app_context():
        assert db.session.get(User, world.worker.id).theme == "dark"
    phone = app.test_client()  # never told anything
    login(phone, world.worker.key)
    assert 'data-theme="dark"' in _html_tag(phone.get("/today").text)
    colleague = app.test_client()
    login(colleague, world.colleague.key)
    assert "data-theme" not in _html_tag(colleague.get("/today").text)
    # Back to automatic on the phone: the laptop follows at its next page.
    _choose(phone, "auto", next_url="/account", page="/account")
    assert "data-theme" not in _html_tag(laptop.get("/today").text)


def test_the_device_keeps_its_choice_across_sign_in_and_sign_out(app, world):
    client = app.test_client()
    _choose(client, "light")  # chosen on the sign-in page, before anyone signs in
    login(client, world.colleague.key)  # who chose nothing: the device's choice shows
    assert 'data-theme="light"' in _html_tag(client.get("/today").text)
    page = client.get("/logout").text
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    assert 'data-theme="light"' in _html_tag(client.get("/login").text)
