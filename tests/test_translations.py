"""Every user-facing text is translatable, and translated.

Four guards, none of which needs the app or a database (the whole module runs in about a
second):

- the catalogues: Dutch and English each hold every message of ``messages.pot``, none fuzzy
  or empty (every plural form included), with the same ``%(name)s`` placeholders as the
  French (a plural's singular may leave out ``%(num)d``: "Un champ…");
- the templates (``app/templates/**/*.html``, but the help pages, written whole in each
  language under ``help/<lang>/``): no text between tags, and no ``title``, ``placeholder``,
  ``aria-label``, ``alt`` or button ``value``, outside ``_()``; no French string literal in a
  Jinja expression outside ``_()``, nor a plain string given as a macro's ``label=``…;
- the Python modules of ``app/``: no plain string given to ``flash``, ``abort``, the API's
  errors (``Invalid``, ``Conflict``, ``jsonify(error=…)``, an ``"error"`` key), a WTForms
  field's label or a validator's message, ``render_template(message=…)``; and no French
  string (a French letter: é, à, ç, «…; or words such as de, la, pour between spaces)
  outside ``_()``/``_l()``, docstrings and log calls;
- the scripts (``app/static/js/*.js``, ``app/static/sw.js``): no French string outside the
  fallback dictionary of offline.js (between ``// fallback: begin`` and ``// fallback: end``);
  their texts come from the server (app/js_messages.py).

The allow-lists below are short on purpose; each entry says why.
"""

from __future__ import annotations

import ast
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from babel.messages.pofile import read_po
from jinja2 import nodes

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
TRANSLATIONS = APP / "translations"
TEMPLATES = APP / "templates"
LANGUAGES = ("nl", "en")
SHOWN = 20  # findings listed in a failure message

FRENCH_LETTERS = re.compile(r"[àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»]")
FRENCH_WORDS = re.compile(r"(?i)(?<![\w-])(?:du|des|une|est|sur|pour|par|vous|votre|vos|cette|"
                          r"pas|dont|aux|avec|sans|à|le|la|les|un|de|et|il|ce)(?![\w-])")
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[sdifr]")
MARKERS = {"_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "pgettext",
           "npgettext", "N_"}

# Words that stay as they are in every language.
TEMPLATE_WORDS = {
    "Relais",                               # the brand
    "Français", "Nederlands", "English",    # a language named in itself
    "FR", "NL", "EN",                       # language codes on the switch
    "h",                                    # the hour's symbol, after a figure
    "v",                                    # a version's number: v3
}
# Python modules whose strings are not for the people using the app. The operators' command
# line (cli.py, backups.py, retention.py, the sessions' commands) and the logs speak English,
# which the checks leave alone: they need no entry here.
PYTHON_FILES_ALLOWED = {
    "app/demo.py",           # the demo's data (names, notes, places) is French on purpose
}
# Strings with a French letter that are data, not text: (module, exact string).
PYTHON_STRINGS_ALLOWED: set[tuple[str, str]] = set()
SCRIPTS = sorted((APP / "static" / "js").glob("*.js")) + [APP / "static" / "sw.js"]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _report(what: str, findings: list[str]) -> str:
    listed = "\n  ".join(findings[:SHOWN])
    more = f"\n  … and {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
    return f"{len(findings)} {what}:\n  {listed}{more}"


# -- the catalogues ---------------------------------------------------------------------------

def _catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


def _key(message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def catalogue_problems(lang: str) -> list[str]:
    template = _catalog(TRANSLATIONS / "messages.pot")
    catalog = _catalog(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po")
    problems = []
    for wanted in template:
        if not wanted.id:
            continue  # the header
        name = _key(wanted)[:70]
        found = catalog.get(wanted.id, wanted.context)
        if found is None:
            problems.append(f"missing: {name!r}")
            continue
        if found.fuzzy:
            problems.append(f"fuzzy: {name!r}")
        forms = list(found.string) if isinstance(found.string, (list, tuple)) \
            else [found.string]
        if isinstance(wanted.id, (list, tuple)):
            if not isinstance(found.id, (list, tuple)):
                problems.append(f"not a plural: {name!r}")
                continue
            source = _placeholders(wanted.id[0]) | _placeholders(wanted.id[1])
        else:
            source = _placeholders(wanted.id)
        if not forms or any(not (form or "").strip() for form in forms):
            problems.append(f"empty: {name!r}")
            continue
        for index, form in enumerate(forms):
            have = _placeholders(form)
            # A placeholder the French lacks breaks the formatting; a lost one loses a value
            # (only a plural's singular forms may say "one" in words instead of %(num)d).
            lost = source - have
            if len(forms) > 1 and index < len(forms) - 1:
                lost -= {"num"}
            if have - source or lost:
                problems.append(f"placeholders {sorted(have)} instead of {sorted(source)}: "
                                f"{name!r}")
                break
    return problems


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_is_complete(lang):
    problems = catalogue_problems(lang)
    assert not problems, _report(f"problems in the {lang} catalogue", problems)


def test_placeholders_are_compared():
    """The checker itself: it sees a lost or an unknown placeholder."""
    assert _placeholders("%(num)d champs, %(name)s et %(max).1f") == {"num", "name", "max"}
    assert _placeholders("100 % sûr") == set()


# -- the templates ---------------------------------------------------------------------------

JINJA_BLOCK = re.compile(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
# A block that fills an attribute, not a text: {% block body_class %}wide-page{% endblock %}.
CLASS_BLOCK = re.compile(r"(\{%-?\s*block\s+\w*class\s*-?%\}).*?(\{%-?\s*endblock)", re.S)
TEXT_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description",
                   "aria-roledescription", "aria-placeholder"}
# An input of these types shows its value (a <button>'s value is sent, never shown).
VALUE_SHOWN = {"button", "submit", "reset"}
SKIPPED_ELEMENTS = {"script", "style", "code", "pre"}
# Keyword arguments of macros that are shown as text.
SHOWN_KEYWORDS = {"label", "title", "hint", "help", "legend", "placeholder", "text", "message",
                  "caption", "empty", "description", "aria_label"}


def _shown_words(text: str) -> str:
    """What is left of a text once Jinja's marks and the allowed words are taken out."""
    text = text.replace("\x00", " ")
    for word in TEMPLATE_WORDS:
        text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", " ", text)
    return text.strip()


def _has_letters(text: str) -> bool:
    return any(char.isalpha() for char in text)


class _TextFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipped = 0
        self.found: list[tuple[int, str]] = []

    def _check(self, text: str, where: str) -> None:
        shown = _shown_words(text)
        if _has_letters(shown):
            self.found.append((self.getpos()[0], f"{where}{' '.join(shown.split())[:60]!r}"))

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag in SKIPPED_ELEMENTS:
            self.skipped += 1
        for name, value in attrs:
            if value is None:
                continue
            shown_value = name == "value" and tag == "input" and values.get("type") in VALUE_SHOWN
            if name in TEXT_ATTRIBUTES or shown_value:
                self._check(value, f"<{tag} {name}> ")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in SKIPPED_ELEMENTS:
            self.skipped -= 1

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS and self.skipped:
            self.skipped -= 1

    def handle_data(self, data):
        if not self.skipped:
            self._check(data, "text ")


def _without_jinja(source: str) -> str:
    """The template's HTML, every Jinja block replaced by a mark (its lines kept)."""
    source = CLASS_BLOCK.sub(r"\1\2", source)
    return JINJA_BLOCK.sub(lambda m: "\n" * m.group().count("\n")
                           + ("" if m.group().startswith("{#") else " \x00 "), source)


def _templates() -> list[Path]:
    help_pages = TEMPLATES / "help"
    return sorted(path for path in TEMPLATES.rglob("*.html")
                  if not (path.parent != help_pages and help_pages in path.parents))


def _jinja_findings(source: str, env: jinja2.Environment) -> list[tuple[int, str]]:
    found = []

    def walk(node, marked: bool):
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) \
                and node.node.name in MARKERS:
            marked = True
        if isinstance(node, nodes.Call) and not marked:
            for keyword in node.kwargs:
                value = keyword.value
                if keyword.key in SHOWN_KEYWORDS and isinstance(value, nodes.Const) \
                        and isinstance(value.value, str) \
                        and _has_letters(_shown_words(value.value)):
                    found.append((keyword.lineno, f"{keyword.key}={value.value[:60]!r}"))
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and not marked \
                and _french(_shown_words(node.value)):
            found.append((node.lineno, f"string {node.value[:60]!r}"))
        for child in node.iter_child_nodes():
            walk(child, marked)

    walk(env.parse(source), False)
    return found


def template_findings() -> list[str]:
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n", "jinja2.ext.do"])
    findings = []
    for path in _templates():
        source = path.read_text(encoding="utf-8")
        finder = _TextFinder()
        finder.feed(_without_jinja(source))
        finder.close()
        for line, what in finder.found + _jinja_findings(source, env):
            findings.append(f"{_rel(path)}:{line}: {what}")
    return findings


def test_templates_mark_their_text():
    findings = template_findings()
    assert not findings, _report("texts of templates not marked for translation", findings)


def test_template_checker_sees_unmarked_text():
    finder = _TextFinder()
    finder.feed(_without_jinja('<p>{{ _("Oui") }} Relais</p><p title="Aide">x</p>'
                               '{% block body_class %}wide{% endblock %}<code>flask</code>'
                               '<input type="submit" value="Envoyer"><button value="a">'))
    assert [what for _, what in finder.found] == ["<p title> 'Aide'", "text 'x'",
                                                  "<input value> 'Envoyer'"]
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    assert [what for _, what in _jinja_findings(
        '{{ m(label="Nom", code="x") }}{{ _("Été") }}{% set t = "Été" %}', env)] == \
        ["label='Nom'", "string 'Été'"]


# -- the Python modules ----------------------------------------------------------------------

# Calls whose string arguments are shown to people.
SHOWN_CALLS = {"flash", "ValidationError", "Invalid", "Conflict", "BadRequest", "Forbidden",
               "NotFound", "StopValidation"}
VALIDATORS = {"DataRequired", "InputRequired", "Length", "NumberRange", "Email", "EqualTo",
              "Regexp", "Optional", "AnyOf", "NoneOf", "URL", "Required"}
SHOWN_KEYS = {"error", "message"}  # of an error payload (the OpenAPI document is English)
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_log_call(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in LOG_METHODS:
        return False
    return "log" in ast.unparse(func.value).lower()


def _plain_text(node: ast.expr | None) -> str | None:
    """A str written as it is (a constant, an f-string, a sum of them), with letters."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _has_letters(node.value) else None
    if isinstance(node, ast.JoinedStr):
        text = "".join(part.value for part in node.values
                       if isinstance(part, ast.Constant) and isinstance(part.value, str))
        return text if _has_letters(text) else None
    if isinstance(node, ast.BinOp):
        return _plain_text(node.left) or _plain_text(node.right)
    if isinstance(node, ast.IfExp):
        return _plain_text(node.body) or _plain_text(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple, ast.Dict)):  # Invalid({"field": ["…"]})
        inner = node.values if isinstance(node, ast.Dict) else node.elts
        return next((text for text in map(_plain_text, inner) if text), None)
    return None


def python_findings_in(tree: ast.AST, module: str) -> list[str]:
    quiet: set[int] = set()     # constants marked, in docstrings or in log calls
    shown: list[tuple[int, str, str]] = []

    def silence(node):
        for inner in ast.walk(node):
            quiet.add(id(inner))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                silence(body[0])
        if not isinstance(node, (ast.Call, ast.Dict)):
            continue
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in SHOWN_KEYS \
                        and " " in (_plain_text(value) or ""):  # a sentence, not a name
                    shown.append((value.lineno, f"{{{key.value!r}: …}}", value))
            continue
        name = _name(node.func)
        if name in MARKERS or _is_log_call(node):
            silence(node)
            continue
        candidates = []
        if name in SHOWN_CALLS or name in VALIDATORS and name != "Optional":
            candidates += (node.args[:1] if name == "flash" else
                           [arg for arg in node.args if name in SHOWN_CALLS]) + \
                [kw.value for kw in node.keywords if kw.arg in ("message", None)
                 or name in SHOWN_CALLS]
        if name == "Optional":
            candidates += [kw.value for kw in node.keywords if kw.arg == "message"]
        if name == "abort":
            candidates += node.args[1:] + [kw.value for kw in node.keywords
                                           if kw.arg == "description"]
        if name == "jsonify" or name == "render_template":
            candidates += [kw.value for kw in node.keywords if kw.arg in SHOWN_KEYS]
        if name.endswith("Field") and name[:1].isupper():
            candidates += node.args[:1] + [kw.value for kw in node.keywords
                                           if kw.arg in ("label", "description")]
        for value in candidates:
            shown.append((value.lineno, f"{name}(…)", value))

    findings = []
    for line, where, value in shown:
        text = _plain_text(value)
        if text is not None and id(value) not in quiet:
            findings.append(f"{module}:{line}: {where} {text[:60]!r}")
            silence(value)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in quiet and _french(node.value) \
                and (module, node.value) not in PYTHON_STRINGS_ALLOWED:
            findings.append(f"{module}:{node.lineno}: {node.value[:60]!r}")
    return sorted(set(findings), key=lambda f: (f.split(":")[0], int(f.split(":")[1]), f))


def python_findings() -> list[str]:
    findings = []
    for path in sorted(APP.rglob("*.py")):
        module = _rel(path)
        if module in PYTHON_FILES_ALLOWED:
            continue
        findings += python_findings_in(ast.parse(path.read_text(encoding="utf-8")), module)
    return findings


def test_python_marks_its_text():
    findings = python_findings()
    assert not findings, _report("texts of Python modules not marked for translation",
                                 findings)


def test_python_checker_sees_unmarked_text():
    source = '''
"""Un module."""
def f():
    """Une fonction."""
    flash("Enregistré")
    raise Invalid({"code": ["Code requis"]})
    title = "Journal de terrain"
    flash(_("Enregistré"))
    abort(404, description="Introuvable")
    current_app.logger.warning("no key réglée")
    name = StringField("Nom", validators=[DataRequired(message="Requis")])
    return {"error": "Refusé ici", "message": "message_digest"}, _l("Déjà là")
'''
    found = [f.split(": ", 1)[1] for f in python_findings_in(ast.parse(source), "m")]
    assert found == ["flash(…) 'Enregistré'", "Invalid(…) 'Code requis'",
                     "'Journal de terrain'", "abort(…) 'Introuvable'",
                     "DataRequired(…) 'Requis'", "StringField(…) 'Nom'",
                     "{'error': …} 'Refusé ici'"]


# -- the scripts ------------------------------------------------------------------------------

def _js_strings(source: str) -> list[tuple[int, str]]:
    """The string literals of a script, with their line, comments left out. Enough for our
    scripts: a regular expression literal holding a quote would confuse it."""
    strings, i, n = [], 0, len(source)
    while i < n:
        two = source[i:i + 2]
        if two == "//":
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif two == "/*":
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif source[i] in "\"'`":
            quote, start, i = source[i], i, i + 1
            while i < n and source[i] != quote:
                i += 2 if source[i] == "\\" else 1
            strings.append((source.count("\n", 0, start) + 1, source[start + 1:i]))
            i += 1
        else:
            i += 1
    return strings


def _fallback_lines(source: str) -> range:
    lines = source.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if "// fallback: begin" in line)
        end = next(i for i, line in enumerate(lines) if "// fallback: end" in line)
    except StopIteration:
        return range(0)
    return range(begin + 1, end + 2)


def _french(text: str) -> bool:
    return bool(FRENCH_LETTERS.search(text)) or (" " in text.strip()
                                                 and bool(FRENCH_WORDS.search(text)))


def script_findings() -> list[str]:
    findings = []
    for path in SCRIPTS:
        source = path.read_text(encoding="utf-8")
        fallback = _fallback_lines(source)
        for line, text in _js_strings(source):
            if line not in fallback and _french(text):
                findings.append(f"{_rel(path)}:{line}: {text[:60]!r}")
    return findings


def test_scripts_take_their_text_from_the_server():
    findings = script_findings()
    assert not findings, _report("French texts in scripts (put them in app/js_messages.py "
                                 "and the fallback of offline.js)", findings)


def test_script_checker_sees_french():
    source = ('// un commentaire « ici »\nvar a = "Contact du " + b;\n'
              'var c = { "class": "button small" };\n// fallback: begin\n'
              'var F = { x: "À résoudre" };\n// fallback: end\nvar d = \'Déjà\';\n')
    found = [(line, text) for line, text in _js_strings(source)
             if line not in _fallback_lines(source) and _french(text)]
    assert found == [(2, "Contact du "), (7, "Déjà")]


def _fallback_of_offline_js() -> dict:
    """The fallback dictionary of offline.js, read as JSON (its keys quoted, its strings'
    `+` joined)."""
    source = (APP / "static" / "js" / "offline.js").read_text(encoding="utf-8")
    lines = source.splitlines()
    marked = _fallback_lines(source)  # line numbers of the markers and what is between
    body = "\n".join(lines[marked.start:marked.stop - 2])
    body = body.split("=", 1)[1].strip().rstrip(";")
    body = re.sub(r'"\s*\+\s*"', "", body)
    body = re.sub(r'([{,]\s*)([A-Za-z_]\w*)\s*:', r'\1"\2":', body)
    return json.loads(re.sub(r",\s*}", "}", body))


def _french_of_js_messages() -> dict:
    """The French texts of app/js_messages.py, read from its source."""
    tree = ast.parse((APP / "js_messages.py").read_text(encoding="utf-8"))
    function = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "js_messages")
    returned = next(node for node in ast.walk(function) if isinstance(node, ast.Return))

    def value(node):
        if isinstance(node, ast.Dict):
            return {key.value: value(item) for key, item in zip(node.keys, node.values,
                                                                 strict=True)}
        texts = [arg.value for arg in node.args]
        return texts[0] if node.func.id == "_" else {"one": texts[0], "other": texts[1]}

    return value(returned.value)


def test_script_fallback_is_the_french_of_the_server():
    """offline.js's French copy says what app/js_messages.py says, key for key."""
    assert _fallback_of_offline_js() == _french_of_js_messages()


# -- dates and numbers ------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "moment", "day", "number"), [
    ("fr", "26/11/2026 21:05", "26 nov. 2026", "1\u202f234,5"),
    ("nl", "26/11/2026, 21:05", "26 nov 2026", "1.234,5"),
    ("en", "26/11/2026, 21:05", "26 Nov 2026", "1,234.5"),
])
def test_dates_and_numbers_follow_the_language(lang, moment, day, number):
    """As Brussels writes them in each language (app/formats.py), in Brussels time."""
    from datetime import UTC, date, datetime

    from flask import Flask
    from flask_babel import Babel

    from app import formats

    app = Flask(__name__)
    Babel(app, locale_selector=lambda: lang, default_timezone="Europe/Brussels")
    with app.test_request_context():
        assert formats.format_datetime(datetime(2026, 11, 26, 20, 5, tzinfo=UTC),
                                       "short") == moment
        assert formats.format_date(date(2026, 11, 26), "medium") == day
        assert formats.format_decimal(1234.5) == number
