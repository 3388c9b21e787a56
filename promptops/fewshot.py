"""Dynamic few-shot: front matter ``fewshot: {from: <dataset>, k: 4, select: similar, sha256: <hex>}``.

At render time ``k`` examples of the dataset are inserted as user/assistant turns before the
prompt's final user turn. The user turn of an example is the prompt's final user section rendered
with the example's ``vars``; the assistant turn is its ``expected`` answer. The dataset is a suite
file (``.jsonl`` rows ``{vars, expected}``, ``.yaml`` a list of them, ``.csv`` with ``__expected``).

- ``select: similar`` (default): the k examples whose user turn is nearest (cosine of
  all-MiniLM-L6-v2 embeddings, offline) to the case's final user turn. The dataset's embeddings
  are computed once and cached under ``.promptops/fewshot/`` by the dataset's sha256; only the
  case's input is embedded per render. The model loads on the first ``similar`` render.
- ``select: random``: k examples drawn with a seed taken from the input (same input, same turns).
- ``select: fixed``: the first k examples.

An example identical to the case (same variables, or the same rendered user turn) is never
selected. ``sha256`` pins the dataset's bytes, so the version's content hash covers the dataset:
a dataset missing, or changed under a committed version, is a :class:`RenderError` saying so.
``promptops optimize`` writes this key with the hash filled in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from ._util.fs import atomic_write
from .assertions import semantic
from .errors import PromptFileError, RenderError

SELECT = ("similar", "random", "fixed")
KEYS = {"from", "k", "select", "sha256"}
_lock = threading.Lock()
_embeddings: dict[str, list[list[float]]] = {}
_files: dict[tuple[str, int, int], tuple[str, list["Example"]]] = {}  # (path, mtime, size) -> (sha256, examples)
_turns: dict[tuple[str, str], list[str]] = {}  # (prompt hash, pool key) -> the examples' user turns
_embedder: Callable[[list[str]], list[list[float]]] | None = None
_embedder_name = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Example:
    vars: dict[str, Any]
    expected: str
    where: str


@dataclass(frozen=True)
class FewShot:
    path: str
    k: int = 4
    select: str = "similar"
    sha256: str = ""
    where: str = ""
    root: Path | None = None
    pool: tuple[Example, ...] | None = None  # in-memory examples (the optimizer's search); no file read

    def insert(self, prompt: Any, values: dict[str, Any], messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``messages`` with the chosen examples as turns before the final user message."""
        last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
        if last is None or self.k == 0:
            return messages
        turns = self.choose(prompt, values, str(messages[last].get("content", "")))
        added = [m for ex_user, ex in turns for m in ({"role": "user", "content": ex_user},
                                                     {"role": "assistant", "content": ex.expected})]
        return [*messages[:last], *added, *messages[last:]]

    def choose(self, prompt: Any, values: dict[str, Any], text: str) -> list[tuple[str, Example]]:
        examples = self.examples()
        key = (prompt.hash, self.pool_key())
        users = _turns.get(key) if prompt.hash else None
        if users is None or len(users) != len(examples):
            users = _turns[key] = _user_turns(prompt, examples)
        keep = [i for i, ex in enumerate(examples)
                if users[i] != text and {k: values.get(k) for k in ex.vars} != ex.vars]
        if self.select == "fixed":
            chosen = keep[: self.k]
        elif self.select == "random":
            rng = random.Random(hashlib.sha256(text.encode("utf-8")).hexdigest())
            chosen = rng.sample(keep, min(self.k, len(keep)))
        else:
            vectors = self._vectors(users)
            query = embed([text])[0]
            scores = {i: sum(a * b for a, b in zip(query, vectors[i])) for i in keep}
            chosen = sorted(keep, key=lambda i: (-scores[i], i))[: self.k]
            chosen.reverse()  # the nearest example sits next to the case
        return [(users[i], examples[i]) for i in chosen]

    def examples(self) -> list[Example]:
        if self.pool is not None:
            return list(self.pool)
        path = self._file()
        try:
            st = path.stat()
            cached = _files.get((str(path), st.st_mtime_ns, st.st_size))
            if cached is not None and cached[0] == self.sha256:
                return list(cached[1])
            data = path.read_bytes()
        except FileNotFoundError:
            raise RenderError(f"fewshot dataset '{self.path}' is missing", where=self.where,
                              hint="restore the file this version pins, or point 'fewshot.from' at it") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise RenderError(f"fewshot dataset '{self.path}' changed under this version: it pins sha256 "
                              f"{self.sha256[:12]}…, the file has {digest[:12]}…", where=self.where,
                              hint=f"restore the dataset, or write a new version with sha256: {digest}")
        examples = read_examples(data.decode("utf-8"), self.path)
        _files[(str(path), st.st_mtime_ns, st.st_size)] = (digest, examples)
        return list(examples)

    def pool_key(self) -> str:
        if self.pool is None:
            return self.sha256
        blob = json.dumps([[e.vars, e.expected] for e in self.pool], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _file(self) -> Path:
        path = Path(self.path)
        return path if path.is_absolute() else (self.root or Path.cwd()) / path

    def _vectors(self, users: list[str]) -> list[list[float]]:
        key = f"{self.pool_key()}-{_embedder_name}-{hashlib.sha256(json.dumps(users).encode()).hexdigest()[:12]}"
        with _lock:
            if key in _embeddings:
                return _embeddings[key]
        cache = (self.root or Path.cwd()) / ".promptops" / "fewshot" / f"{key}.json"
        vectors = None
        if cache.is_file():
            try:
                vectors = json.loads(cache.read_text(encoding="utf-8"))
            except ValueError:
                vectors = None
        if not isinstance(vectors, list) or len(vectors) != len(users):
            vectors = embed(users)
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(cache, json.dumps(vectors))
            except OSError:
                pass  # a read-only checkout still renders; it embeds again next process
        with _lock:
            _embeddings[key] = vectors
        return vectors


def _user_turns(prompt: Any, examples: list[Example]) -> list[str]:
    plain = replace(prompt, fewshot=None)
    out = []
    for ex in examples:
        try:
            rendered = plain.render(ex.vars, strict=False)
        except RenderError as exc:
            raise RenderError(f"fewshot example does not fit prompt '{prompt.name}': {exc.message}",
                              where=ex.where, hint=exc.hint) from None
        out.append(next(str(m["content"]) for m in reversed(rendered) if m["role"] == "user"))
    return out


def embed(texts: list[str]) -> list[list[float]]:
    """Unit vectors for ``texts``: the configured embedder, else all-MiniLM-L6-v2 (loaded lazily)."""
    if _embedder is not None:
        return _embedder(texts)
    return semantic.embed(texts)


def use_embedder(fn: Callable[[list[str]], list[list[float]]] | None, name: str = "custom") -> None:
    """Replace the embedder (tests; ``None`` restores all-MiniLM-L6-v2)."""
    global _embedder, _embedder_name
    _embedder, _embedder_name = fn, (name if fn is not None else "all-MiniLM-L6-v2")
    with _lock:
        _embeddings.clear()


def parse(spec: Any, where: str, root: Path | None) -> FewShot | None:
    """The ``fewshot`` front-matter key, checked (the dataset is read at render time)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("from"), str) or set(spec) - KEYS:
        raise PromptFileError("'fewshot' is {from: <dataset path>, k: 4, select: similar|random|fixed, sha256: ...}",
                              where=where, hint="e.g. fewshot: {from: datasets/examples.jsonl, k: 4, select: similar}")
    k, select = spec.get("k", 4), spec.get("select", "similar")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 64:
        raise PromptFileError(f"'fewshot.k' must be a whole number 0..64, got {k!r}", where=where)
    if select not in SELECT:
        raise PromptFileError(f"'fewshot.select' must be one of {', '.join(SELECT)}, got {select!r}", where=where)
    path = spec["from"]
    if Path(path).is_absolute() or ".." in Path(path).parts:
        raise PromptFileError(f"fewshot dataset '{path}' leaves the repository", where=where)
    sha = spec.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        found = ""
        if root is not None and (Path(root) / path).is_file():
            found = f": sha256: {hashlib.sha256((Path(root) / path).read_bytes()).hexdigest()}"
        raise PromptFileError("'fewshot' needs 'sha256', the dataset's hash, so the version covers the data",
                              where=where, hint=f"add it to the fewshot mapping{found or ' (sha256sum <dataset>)'}")
    return FewShot(path=path, k=k, select=select, sha256=sha, where=where, root=Path(root) if root else None)


def read_examples(text: str, name: str) -> list[Example]:
    """Examples of a suite-format text: every row needs vars and a text ``expected``."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    rows: list[tuple[Any, str]] = []
    if name.endswith(".jsonl"):
        for n, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    rows.append((json.loads(line), f"{name}:{n}"))
                except ValueError as exc:
                    raise RenderError(f"invalid JSON: {exc}", where=f"{name}:{n}") from None
    elif name.endswith((".yaml", ".yml")):
        data = yaml.safe_load(text) or []
        rows = [(r, f"{name}:{i + 1} (item)") for i, r in enumerate(data if isinstance(data, list) else [])]
    elif name.endswith(".csv"):
        for n, r in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            rows.append(({"vars": {k: v for k, v in r.items() if not k.startswith("__")},
                          "expected": r.get("__expected")}, f"{name}:{n}"))
    else:
        raise RenderError("a fewshot dataset is a .jsonl, .yaml or .csv file", where=name)
    out = []
    for row, where in rows:
        if not isinstance(row, dict) or not isinstance(row.get("vars"), dict) \
                or not isinstance(row.get("expected"), (str, int, float)) or isinstance(row.get("expected"), bool):
            raise RenderError("a fewshot example needs 'vars' (a mapping) and 'expected' (the answer text)",
                              where=where, hint='e.g. {"vars": {"text": "..."}, "expected": "positive"}')
        out.append(Example(vars=row["vars"], expected=str(row["expected"]), where=where))
    return out
