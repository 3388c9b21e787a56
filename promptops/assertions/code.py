"""The ``python`` assertion: a function in a file of the user's repository grades the output.

``value: path/to/file.py:function_name`` (relative to the project root; the function name defaults
to ``get_assert``, as in promptfoo). The function is called as ``fn(output, context)`` where
``context`` holds ``vars``, ``expected``, ``latency_ms``, ``cost_usd`` and ``assertion`` (the spec);
it may be async. It returns a bool, a number (the score; passes when > 0 unless a threshold is set),
or a mapping ``{pass, score, reason}``. Anything it raises becomes a failed grade with the reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from .base import Check, Family, GradeError, GradeResult

FAMILY = Family("code")
DEFAULT_FUNCTION = "get_assert"
PINNED_DIR = ".promptops/pinned"
_modules: dict[tuple[str, int], Any] = {}
_pinned: dict[str, str] = {}  # virtual path -> source: a file as it was at a git commit
_lock = threading.Lock()


def pin_source(rel: str, text: str) -> str:
    """Keep a file's text as it was at a commit (a prompt's ``file://`` python assertion read from
    history) and return the virtual path a ``python`` value names it by; nothing is written."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    virtual = f"{PINNED_DIR}/{digest}/{rel}"
    with _lock:
        _pinned[virtual] = text
    return virtual


def split_target(value: Any) -> tuple[str, str]:
    """``file.py:function`` → (file, function); raises ValueError with the expected form."""
    text = str(value).strip()
    if text.startswith("file://"):
        text = text[len("file://"):]
    path, function = text.rsplit(":", 1) if ":" in text else (text, DEFAULT_FUNCTION)
    if not path.endswith(".py") or not function.isidentifier():
        raise ValueError(f"python assertion value must be 'path/to/file.py:function_name', got {value!r}")
    return path, function


def _load_function(root: Path, target: Any) -> Callable[..., Any]:
    path_text, function = split_target(target)
    root = Path(root).resolve()
    if path_text in _pinned:
        return _pinned_function(root, path_text, function)
    path = (root / path_text).resolve()
    if not path.is_relative_to(root):
        raise GradeError(f"{path_text} lies outside the project root")
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise GradeError(f"{path_text}: file not found (relative to {root})") from None
    key = (str(path), mtime)
    with _lock:
        module = _modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(f"promptops_user_assert_{abs(hash(key))}", path)
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except (Exception, SystemExit) as exc:  # user code: SyntaxError, ImportError, sys.exit()...
                raise GradeError(f"{path_text} failed to load: {_describe(exc, path)}") from None
            _modules[key] = module
    fn = getattr(module, function, None)
    if not callable(fn):
        raise GradeError(f"{path_text} has no function '{function}'")
    return fn


def _pinned_function(root: Path, path_text: str, function: str) -> Callable[..., Any]:
    import types

    key = (path_text, 0)
    with _lock:
        module = _modules.get(key)
        if module is None:
            module = types.ModuleType(f"promptops_user_assert_{abs(hash(key))}")
            module.__file__ = str(root / path_text)
            try:
                exec(compile(_pinned[path_text], module.__file__, "exec"), module.__dict__)
            except (Exception, SystemExit) as exc:
                raise GradeError(f"{path_text} failed to load: {_describe(exc, Path(module.__file__))}") from None
            _modules[key] = module
    fn = getattr(module, function, None)
    if not callable(fn):
        raise GradeError(f"{path_text} has no function '{function}'")
    return fn


def _describe(exc: BaseException, path: Path) -> str:
    line = ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = f" (line {exc.lineno})"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
        if frames:
            line = f" (line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{line}"


def _result(value: Any) -> GradeResult:
    if isinstance(value, GradeResult):
        return value
    if isinstance(value, bool):
        return GradeResult(value, 1.0 if value else 0.0, "python check returned " + str(value))
    if isinstance(value, (int, float)) and not math.isnan(value):
        score = max(0.0, min(1.0, float(value)))
        return GradeResult(value > 0, score, f"python check scored {value:g}")
    if isinstance(value, dict):
        passed, score = value.get("pass", value.get("passed")), value.get("score")
        if passed is None and score is None:
            raise GradeError("python check returned a mapping without 'pass' or 'score'")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise GradeError(f"python check returned a non-numeric score {score!r}")
        passed = bool(passed) if passed is not None else score > 0
        score = (1.0 if passed else 0.0) if score is None else max(0.0, min(1.0, float(score)))
        return GradeResult(passed, score, str(value.get("reason") or f"python check returned pass={passed}"))
    raise GradeError(f"python check returned {type(value).__name__}; return a bool, a number or "
                     "{'pass', 'score', 'reason'}")


@FAMILY.assertion("python", "a function in a file of the repository grades the output: "
                  "value 'path/to/file.py:function_name'", value="path", threshold="score",
                  check_value=split_target)
async def python(output: str, value: Any, check: Check) -> GradeResult:
    fn = _load_function(check.ctx.root, value)
    context = {"vars": check.vars, "expected": check.expected, "latency_ms": check.latency_ms,
               "cost_usd": check.cost_usd, "assertion": check.spec}
    path = (Path(check.ctx.root) / split_target(value)[0]).resolve()
    try:
        returned = fn(output, context)
        if inspect.isawaitable(returned):
            returned = await returned
    except (Exception, SystemExit) as exc:  # user code may raise anything; cancellation passes through
        raise GradeError(f"python check raised {_describe(exc, path)}") from None
    return _result(returned)
