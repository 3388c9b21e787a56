"""``file://`` in a prompt's front-matter ``assert:``, read as suite cells read them.

``assert: file://checks/asserts.yaml`` loads the assertion list from a ``.yaml``/``.yml``/``.json``
file; an assertion's ``value: file://rubric.txt`` (a string, or strings in a list) is that file's
text (``.json``/``.yaml``: its data). Both are relative to the file that names them (the prompt
file, or the assertion-list file). A ``python`` assertion's ``value: file://checks/grader.py:fn``
names its file from the project root, as everywhere else (``promptops.assertions.code``).

Every file read is part of the prompt version's content hash (:attr:`Prompt.refs` holds
path -> sha256), so a changed rubric is a new version. Through a :class:`~promptops.fileref.Files`
reading a git commit, the files are read as they were at that commit; a python file that differs
there from the working tree is kept in memory and run as it was (``code.pin_source``).
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from pathlib import Path
from typing import Any

from .assertions import lookup
from .assertions.code import PINNED_DIR, pin_source, split_target
from .errors import PromptFileError
from .fileref import CODE_SUFFIXES, SCHEME, Files, is_ref, working_tree
from .suite_shapes import resolve_refs

LIST_SUFFIXES = (".yaml", ".yml", ".json")


def has_refs(raw: Any) -> bool:
    """Whether front-matter ``assert:`` names a file anywhere."""
    if is_ref(raw):
        return True
    specs = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return any(isinstance(s, dict) and _value_has_ref(s.get("value")) for s in specs)


def reader(source: str, root: Path | None, files: Files | None) -> tuple[Files | None, str]:
    """(the reader for a prompt's references, the name the prompt file goes by for it); no reader
    when the text comes from nowhere on disk (a server's content, a fallback)."""
    if files is not None:
        return files, source
    if root is not None:
        return Files(root, error=PromptFileError), source
    path = Path(source)
    if path.is_file():
        return Files(working_tree(path), error=PromptFileError), str(path.resolve())
    return None, source


def resolve_asserts(raw: Any, named_in: str, where: str, files: Files | None) -> tuple[Any, dict[str, str]]:
    """(the assertions with their ``file://`` references read, {path: sha256} of the files read).
    Without a reader the references stay as written (an assertion-list reference reads as none)."""
    if not has_refs(raw):
        return raw, {}
    if files is None:
        return ([] if is_ref(raw) else raw), {}
    files = files.fresh(PromptFileError)
    if is_ref(raw):
        named_in, raw = _list_file(raw, named_in, where, files)
    if isinstance(raw, dict):
        raw = [raw]
    if isinstance(raw, list):
        raw = [_python(s, where, files) if _is_python(s) else s for s in raw]
        raw = resolve_refs({"assert": raw}, named_in, where, files)["assert"]
    return raw, dict(sorted(files.reads.items()))


def _value_has_ref(value: Any) -> bool:
    return is_ref(value) or (isinstance(value, list) and any(is_ref(v) for v in value))


def _list_file(ref: str, named_in: str, where: str, files: Files) -> tuple[str, Any]:
    rel = files.relative(ref, named_in, where)
    if posixpath.splitext(rel)[1].lower() not in LIST_SUFFIXES:
        raise PromptFileError(f"assert '{ref}': an assertion list is a .yaml, .yml or .json file", where=where,
                              hint="write the list of {type, value} mappings in a YAML file, or the list inline")
    rel, data = files.load(ref, named_in, where)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise PromptFileError(f"assert '{ref}': '{rel}' holds {type(data).__name__}, not a list of assertions",
                              where=where, hint="e.g. - {type: icontains, value: Paris}")
    return rel, data


def _is_python(spec: Any) -> bool:
    if not isinstance(spec, dict) or not is_ref(spec.get("value")) or not isinstance(spec.get("type"), str):
        return False
    atype, _ = lookup(spec["type"])
    return atype is not None and atype.value == "path"


def _python(spec: dict[str, Any], where: str, files: Files) -> dict[str, Any]:
    try:
        path, function = split_target(spec["value"])
    except ValueError as exc:
        raise PromptFileError(f"bad assertion: {exc}", where=where) from None
    rel, text = files.text(SCHEME + path, "_", where)  # from the project root, as python values are
    if files.at_commit:
        try:
            same = (files.root / rel).read_text(encoding="utf-8").removeprefix("\ufeff") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            rel = pin_source(rel, text)
    return {**spec, "value": f"{rel}:{function}"}


# -- a body or a section that is ``file://PATH`` -------------------------------------------------

def resolve_body(sections: list[Any], first_line: int, named_in: str, source: str, files: Files | None,
                 parse_body: Any) -> tuple[list[Any], dict[str, str]]:
    """Sections with each ``file://PATH`` section (its whole text one such line) replaced by the
    file's text; a body that is only that line takes the file's role sections (``parse_body``).
    The files' sha256 go into the hash like the assertions' ({path: sha256})."""
    if not any(_body_ref(s) for s in sections):
        return sections, {}
    where = f"{source}:{next(s.line for s in sections if _body_ref(s))}"
    if files is None:
        raise PromptFileError(f"the body names '{_body_ref(next(s for s in sections if _body_ref(s)))}', and no "
                              "project files are at hand to read it", where=where,
                              hint="read the prompt from its project (a served prompt's content has it inlined)")
    files = files.fresh(PromptFileError)
    out = []
    for section in sections:
        ref = _body_ref(section)
        if ref is None:
            out.append(section)
            continue
        rel = files.relative(ref, named_in, f"{source}:{section.line}")
        if posixpath.splitext(rel)[1].lower() in (".json", ".yaml", ".yml", *CODE_SUFFIXES):
            raise PromptFileError(f"'{ref}': a prompt body is a text template (.txt, .md, .j2, ...), not "
                                  f"'{posixpath.splitext(rel)[1]}'", where=f"{source}:{section.line}",
                                  hint="write the template's text in the file; JSON chats are for 'promptops import'")
        rel, text = files.text(ref, named_in, f"{source}:{section.line}")
        if not text.strip():
            raise PromptFileError(f"'{ref}': '{rel}' is empty", where=f"{source}:{section.line}")
        if len(sections) == 1 and section.line == first_line:  # the whole body: the file's role sections
            out.extend(replace(s, origin=rel) for s in parse_body(text.replace("\r\n", "\n").split("\n"), 1, rel))
        else:
            out.append(replace(section, template=text.replace("\r\n", "\n").rstrip("\n"), line=1, origin=rel))
    return out, dict(sorted(files.reads.items()))


def _body_ref(section: Any) -> str | None:
    text = section.template.strip() if section.role != "messages" else ""
    return text if is_ref(text) and "\n" not in text else None


def python_paths(specs: Any) -> set[str]:
    """The root-relative files the ``python`` assertions among ``specs`` run (a copy kept from a
    commit counts as its file): what ``ci`` watches for a change."""
    out = set()
    for spec in specs if isinstance(specs, list) else []:
        if isinstance(spec, dict) and isinstance(spec.get("type"), str) and spec.get("value") is not None:
            atype, _ = lookup(spec["type"])
            if atype is not None and atype.value == "path":
                try:
                    path = posixpath.normpath(split_target(spec["value"])[0])
                except ValueError:
                    continue
                parts = path.split("/")
                out.add("/".join(parts[3:]) if path.startswith(PINNED_DIR + "/") and len(parts) > 3 else path)
    return out
