""".env files: ``KEY=value`` lines read from the project root by :func:`promptops.config.load_config`.

The format is the common one (python-dotenv's, docker compose's): blank lines and ``#`` comments;
an optional ``export`` before the key; an unquoted value is stripped and ends at `` #``; a
``'single-quoted'`` value is literal; a ``"double-quoted"`` value understands ``\\n``, ``\\t``,
``\\"`` and ``\\\\``; quoted values may span lines; ``${NAME}`` and ``${NAME:-default}`` in unquoted
and double-quoted values take NAME from the environment, else from the lines above. Anything else
is refused with its line number (:class:`DotenvError`), never guessed. Values are never part of a
message: a .env holds keys.

Variables already set in the environment win over the file (see :func:`merged`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

FILE = ".env"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXPAND = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


class DotenvError(ValueError):
    """A line of a .env file that is not ``KEY=value``; ``line`` is its number (1-based)."""

    def __init__(self, line: int, problem: str):
        self.line, self.problem = line, problem
        super().__init__(f"line {line}: {problem}")


def parse(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of a .env file's text, in order. ``environ`` (default ``os.environ``) serves
    ``${NAME}`` before the file's own earlier lines."""
    environ = os.environ if environ is None else environ
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    out: dict[str, str] = {}
    lines = text.split("\n")
    n = 0
    while n < len(lines):
        start = n + 1
        line = lines[n].strip()
        n += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith(("export ", "export\t")):
            line = line[len("export"):].lstrip()
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not eq:
            raise DotenvError(start, "expected KEY=value (no '=' on this line)")
        if not _KEY.fullmatch(key):
            raise DotenvError(start, "a key is letters, digits and underscores, not starting with a digit")
        rest = rest.lstrip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            while _closing(body, quote) is None:  # the value goes on over the next lines
                if n >= len(lines):
                    raise DotenvError(start, f"the {quote} that opens the value of {key} is never closed")
                body += "\n" + lines[n]
                n += 1
            end = _closing(body, quote)
            value, tail = body[:end], body[end + 1:].strip()
            if tail and not tail.startswith("#"):
                raise DotenvError(start, f"text after the closing {quote} of {key}'s value")
            if quote == '"':
                value = _expand(_unescape(value), environ, out)
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
            value = _expand(value, environ, out)
        out[key] = value
    return out


def _closing(body: str, quote: str) -> int | None:
    """Index of the quote that closes ``body`` (a backslash escapes one in double quotes), or None."""
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and quote == '"':
            i += 2
            continue
        if c == quote:
            return i
        i += 1
    return None


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value, flags=re.DOTALL)


def _expand(value: str, environ: Mapping[str, str], earlier: Mapping[str, str]) -> str:
    def one(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        found = environ.get(name) or earlier.get(name)
        return found if found else (default or "")

    return _EXPAND.sub(one, value)


def read(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``root/.env`` parsed; {} when there is none. :class:`DotenvError` for a bad line; an
    unreadable file is an ``OSError``, a file that is not UTF-8 a ``UnicodeDecodeError``."""
    path = Path(root) / FILE
    if not path.is_file():
        return {}
    return parse(path.read_text(encoding="utf-8"), environ)


def merged(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment as seen with a .env: the file's values under the variables already set
    (an empty variable counts as set, as python-dotenv and docker compose treat it)."""
    environ = os.environ if environ is None else environ
    return {**values, **environ}
