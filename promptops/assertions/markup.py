"""Markup and code assertions: is-xml, contains-xml, is-html, contains-html, is-sql, contains-sql.

XML is parsed with the standard library (``xml.etree``, whose expat refuses entity expansion
bombs); ``is-xml``/``contains-xml`` take an optional value: element names (a list, or a
comma-separated string; ``a.b`` for a path) that must appear. HTML is read with ``html.parser``:
``is-html`` passes when the whole output is markup (it starts with ``<`` and ends with ``>``, holds
at least one known HTML element, and every non-void element that opens also closes);
``contains-html`` when the output holds at least one known element.

SQL: no SQL parser is installed, so ``is-sql`` is a documented structural check, not a grammar:
the output (a ```sql fence is unwrapped) is one or more statements separated by ``;``, each
starting with a statement keyword (SELECT, WITH, INSERT INTO, UPDATE ... SET, DELETE FROM, CREATE,
ALTER, DROP, TRUNCATE, MERGE, REPLACE, GRANT, REVOKE, EXPLAIN, BEGIN/COMMIT/ROLLBACK), with the
clauses that keyword needs (SELECT has a select list; INSERT has VALUES or SELECT), balanced
parentheses, and closed quotes. Prose fails. The value may be ``{allowedTables: [...]}``: every
table named after FROM, JOIN, INTO, UPDATE or TABLE must be in the list. ``contains-sql`` passes
when a ```sql fence or a line starting a statement holds SQL that passes the same check.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .base import Check, Family, GradeResult, as_strings, clip, passfail

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

# xml.etree and html.parser are imported when an XML or HTML assertion first runs: every eval
# loads this family with the built-ins, and most never grade markup (~15 ms of start-up)

FAMILY = Family("markup")

# -- XML --------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z]*\s*\n(.*?)```", re.S)


def _parse_xml(text: str) -> ET.Element | None:
    import xml.etree.ElementTree as ET

    try:
        return ET.fromstring(text.strip())
    except ET.ParseError:
        return None


def _has_elements(root: ET.Element, names: list[str]) -> list[str]:
    """The names (``a`` or ``a.b.c`` paths from the root) missing from the document."""
    missing = []
    for name in names:
        parts = name.split(".")
        if len(parts) == 1:
            found = root.tag == name or root.find(f".//{name}") is not None
        else:
            found = parts[0] == root.tag and root.find("/".join(parts[1:])) is not None
        if not found:
            missing.append(name)
    return missing


def _xml_result(root: ET.Element | None, value: Any, what: str, output: str) -> GradeResult:
    if root is None:
        return GradeResult(False, 0.0, f"output {what} no well-formed XML: {clip(output)}")
    names = as_strings(value) if value is not None else []
    missing = _has_elements(root, names)
    return passfail(not missing, f"output {what} XML" + (f" with {', '.join(names)}" if names else ""),
                    f"the XML lacks element(s) {', '.join(missing)}")


@FAMILY.assertion("is-xml", "the whole output is well-formed XML (with the element names given as value, "
                  "when given)", value="strings", value_required=False)
def is_xml(output: str, value: Any, check: Check) -> GradeResult:
    return _xml_result(_parse_xml(output), value, "is", output)


def find_xml(text: str) -> ET.Element | None:
    """The first well-formed XML element inside ``text`` (a fence, or from a ``<tag`` to its close)."""
    for block in _FENCE.findall(text):
        root = _parse_xml(block)
        if root is not None:
            return root
    for m in re.finditer(r"<([A-Za-z_][\w.-]*)[^<>]*?(/?)>", text):
        if m.group(2):
            root = _parse_xml(m.group(0))
        else:
            end = text.rfind(f"</{m.group(1)}>")
            root = _parse_xml(text[m.start(): end + len(m.group(1)) + 3]) if end > m.start() else None
        if root is not None:
            return root
    return None


@FAMILY.assertion("contains-xml", "the output contains a well-formed XML element (with the element names given "
                  "as value, when given)", value="strings", value_required=False)
def contains_xml(output: str, value: Any, check: Check) -> GradeResult:
    return _xml_result(find_xml(output), value, "contains", output)


# -- HTML -------------------------------------------------------------------------------------

HTML_ELEMENTS = frozenset(
    "a abbr address article aside audio b blockquote body br button canvas caption code col dd details div dl dt "
    "em fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input label legend "
    "li link main meta nav ol option p pre section select small source span strong style sub summary sup table "
    "tbody td textarea tfoot th thead title tr u ul video".split())
_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


@lru_cache(maxsize=1)
def _html_parser_class() -> type:
    from html.parser import HTMLParser

    class _Html(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.known = 0
            self.open: list[str] = []
            self.unbalanced = False

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            self.known += tag in HTML_ELEMENTS
            if tag not in _VOID:
                self.open.append(tag)

        def handle_startendtag(self, tag: str, attrs: Any) -> None:
            self.known += tag in HTML_ELEMENTS

        def handle_endtag(self, tag: str) -> None:
            if tag in _VOID:
                return
            if tag in self.open:
                while self.open and self.open.pop() != tag:
                    pass  # an implicitly closed element (<li>, <p>) is fine
            else:
                self.unbalanced = True

    return _Html


def _read_html(text: str) -> Any:
    parser = _html_parser_class()()
    parser.feed(text)
    parser.close()
    return parser


@FAMILY.assertion("is-html", "the whole output is HTML markup", value="none", value_required=False)
def is_html(output: str, value: Any, check: Check) -> GradeResult:
    text = output.strip()
    if not (text.startswith("<") and text.endswith(">")):
        return GradeResult(False, 0.0, f"output is not markup (it must start with < and end with >): {clip(output)}")
    parsed = _read_html(text)
    if not parsed.known:
        return GradeResult(False, 0.0, f"output holds no HTML element: {clip(output)}")
    dangling = [t for t in parsed.open if t not in ("li", "p", "td", "tr", "th", "option", "html", "body", "head")]
    return passfail(not parsed.unbalanced and not dangling, "output is HTML",
                    f"output is not balanced HTML (unclosed: {', '.join(dangling) or '-'}): {clip(output)}")


@FAMILY.assertion("contains-html", "the output contains at least one HTML element", value="none",
                  value_required=False)
def contains_html(output: str, value: Any, check: Check) -> GradeResult:
    return passfail(_read_html(output).known > 0, "output contains HTML",
                    f"output contains no HTML element: {clip(output)}")


# -- SQL --------------------------------------------------------------------------------------

_STATEMENT = re.compile(
    r"^\s*(select|with|insert|update|delete|create|alter|drop|truncate|merge|replace|grant|revoke|explain|"
    r"begin|commit|rollback)\b", re.I)
_NEEDS = {
    "select": re.compile(r"^\s*select\s+(distinct\s+|all\s+)?(\*|[\w\"`\[(]|'|\d)", re.I),
    "with": re.compile(r"^\s*with\s+(recursive\s+)?[\w\"`]+(\s*\([^)]*\))?\s+as\s*\(.*\)\s*(select|insert|update|"
                       r"delete)\b", re.I | re.S),
    "insert": re.compile(r"^\s*insert\s+(or\s+\w+\s+)?into\s+[\w.\"`\[\]]+.*\b(values|select|default\s+values)\b",
                         re.I | re.S),
    "update": re.compile(r"^\s*update\s+[\w.\"`\[\]]+\s+set\s+[\w\"`]+\s*=", re.I),
    "delete": re.compile(r"^\s*delete\s+from\s+[\w.\"`\[\]]+", re.I),
    "create": re.compile(r"^\s*create\s+(or\s+replace\s+)?(temp(orary)?\s+|unique\s+)?(table|view|index|schema|"
                         r"database|function|procedure|trigger|sequence|type)\b", re.I),
    "alter": re.compile(r"^\s*alter\s+(table|view|index|schema|database|sequence|type)\s+\S+", re.I),
    "drop": re.compile(r"^\s*drop\s+(table|view|index|schema|database|function|procedure|trigger|sequence|type)\s+"
                       r"\S+", re.I),
}
_TABLE_REF = re.compile(r"\b(from|join|into|update|table)\s+([A-Za-z_][\w.]*|\"[^\"]+\"|`[^`]+`)", re.I)


def _statements(sql: str) -> list[str] | None:
    """Split on ``;`` outside quotes; None when a quote is left open or parentheses do not balance."""
    parts, current, quote, depth = [], [], "", 0
    for ch in sql:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
        elif ch == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if quote or depth:
        return None
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def sql_problem(text: str, allowed_tables: list[str] | None = None) -> str | None:
    """None when ``text`` passes the SQL check (see the module docstring), else why not."""
    fenced = _FENCE.findall(text)
    sql = fenced[0] if fenced else text
    statements = _statements(sql)
    if statements is None:
        return "unbalanced parentheses or an unclosed quote"
    if not statements:
        return "no SQL statement"
    for stmt in statements:
        m = _STATEMENT.match(stmt)
        if not m:
            return f"{clip(stmt.strip(), 40)} does not start with an SQL statement keyword"
        need = _NEEDS.get(m.group(1).lower())
        if need is not None and not need.match(stmt):
            return f"incomplete {m.group(1).upper()} statement: {clip(stmt.strip(), 60)}"
    if allowed_tables is not None:
        allowed = {t.lower() for t in allowed_tables}
        for stmt in statements:
            for _, table in _TABLE_REF.findall(re.sub(r"'[^']*'", "''", stmt)):
                name = table.strip("\"`").lower()
                if name not in allowed and name.split(".")[-1] not in allowed and name != "(":
                    return f"table '{name}' is not in allowedTables"
    return None


def _allowed(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"allowedTables", "databaseType"}:
        raise ValueError(f"'is-sql' takes {{allowedTables: [...], databaseType: ...}}, got {value!r}")
    tables = value.get("allowedTables")
    return None if tables is None else as_strings(tables)


@FAMILY.assertion("is-sql", "the output is SQL (a structural check, see the README); value: {allowedTables: [...]}",
                  value="any", value_required=False, check_value=lambda v: _allowed(v) and None)
def is_sql(output: str, value: Any, check: Check) -> GradeResult:
    problem = sql_problem(output, _allowed(value))
    return passfail(problem is None, "output is SQL", f"output is not SQL: {problem}")


@FAMILY.assertion("contains-sql", "the output contains SQL (a ```sql fence, or lines from a statement keyword on)",
                  value="any", value_required=False, check_value=lambda v: _allowed(v) and None)
def contains_sql(output: str, value: Any, check: Check) -> GradeResult:
    allowed = _allowed(value)
    candidates = [f"```\n{b}```" for b in _FENCE.findall(output)]
    lines = output.split("\n")
    for i, line in enumerate(lines):
        if _STATEMENT.match(line):
            candidates.append("\n".join(lines[i:]).split("\n\n")[0])
    problems = [sql_problem(c, allowed) for c in candidates]
    if any(p is None for p in problems):
        return GradeResult(True, 1.0, "output contains SQL")
    return GradeResult(False, 0.0, f"output contains no SQL{': ' + problems[0] if problems else ''}")
