"""The cached-rerun shortcuts give exactly what the long way gives: assertion verdicts remembered
per spec, synchronous grading without tasks, templates rendered without Jinja2, cache keys and
fingerprints built from parts, and the result writer woken per group."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading

import pytest

from promptops.assertions import AssertionType, GradeResult, grade, register, unregister, validate_assertion
from promptops.config import Config, ModelOptions
from promptops.errors import SuiteError
from promptops.eval.runner import _Writer, cache_key, cache_keys, fingerprint, suite_hash
from promptops.prompts import parse_prompt
from promptops.suites import parse_suite_texts
from promptops.templating import compile_template, environment, render_bounded


# -- validation remembered per spec -----------------------------------------------------------

def test_a_bad_spec_is_refused_every_time_and_a_lookalike_is_judged_on_its_own():
    for _ in range(3):
        with pytest.raises(ValueError, match="weight must be a number"):
            validate_assertion({"type": "contains", "value": "x", "weight": True})
    validate_assertion({"type": "contains", "value": "x", "weight": 1})  # equal to True in Python, not here
    with pytest.raises(ValueError, match="weight must be a number"):
        validate_assertion({"type": "contains", "value": "x", "weight": True})
    with pytest.raises(ValueError, match="weight must be a number"):
        validate_assertion({"type": "contains", "value": "x", "weight": float("nan")})
    # a list of strings is a value for 'contains-any'; the same strings in a set are not keyed
    validate_assertion({"type": "contains-any", "value": ["a", "b"]})
    with pytest.raises(ValueError):
        validate_assertion({"type": "contains-any", "value": {"a", "b"}})


def test_a_verdict_expires_when_the_registry_changes():
    spec = {"type": "shouts-fastpath"}
    with pytest.raises(ValueError, match="unknown assertion type"):
        validate_assertion(spec)
    register(AssertionType(name="shouts-fastpath", description="upper case", value="none", value_required=False,
                           handler=lambda output, value, check: GradeResult(output.isupper(), 1.0, "upper")))
    try:
        validate_assertion(spec)
        graded = asyncio.run(grade([spec], "HEY"))
        assert graded.passed and graded.components[0]["error"] is False
    finally:
        unregister("shouts-fastpath")
    with pytest.raises(ValueError, match="unknown assertion type"):
        validate_assertion(spec)


def test_grading_refuses_a_bad_spec_in_every_case():
    bad = {"type": "contains", "value": "x", "weight": -1}
    for _ in range(3):
        graded = asyncio.run(grade([bad, {"type": "contains", "value": "x"}], "x"))
        assert not graded.passed
        assert graded.components[0]["error"] is True and "weight must be a number" in graded.components[0]["reason"]
        assert graded.components[1]["passed"] is True


def test_a_bad_assertion_in_a_later_case_still_names_its_line():
    good = '{"vars": {}, "assert": [{"type": "contains", "value": "a"}]}\n'
    bad = '{"vars": {"n": 2}, "assert": [{"type": "contains", "value": "a", "weight": "heavy"}]}\n'
    with pytest.raises(SuiteError) as info:
        parse_suite_texts([("s.jsonl", good + good.replace("{}", '{"n": 1}') + bad)])
    assert info.value.where == "s.jsonl:3" and "bad assertion" in info.value.message
    with pytest.raises(SuiteError) as info:  # the same bad spec again, verdict remembered: same error
        parse_suite_texts([("t.jsonl", bad)])
    assert info.value.where == "t.jsonl:1"


# -- synchronous grading, asynchronous handlers -----------------------------------------------

def test_sync_and_async_handlers_mix_in_order():
    async def slow(output, value, check):
        await asyncio.sleep(0)
        return GradeResult(value in output, 1.0, "slow")

    register(AssertionType(name="slow-fastpath", description="async contains", value="string", handler=slow))
    try:
        specs = [{"type": "contains", "value": "a"}, {"type": "slow-fastpath", "value": "b"},
                 {"type": "not-slow-fastpath", "value": "z"}, {"type": "equals", "value": "nope"}]
        graded = asyncio.run(grade(specs, "ab"))
    finally:
        unregister("slow-fastpath")
    assert [c["type"] for c in graded.components] == [s["type"] for s in specs]
    assert [c["passed"] for c in graded.components] == [True, True, True, False]
    assert graded.reason.startswith("equals:")


def test_an_async_handler_that_raises_fails_only_its_assertion():
    async def broken(output, value, check):
        raise RuntimeError("judge down")

    register(AssertionType(name="broken-fastpath", description="raises", value="none", value_required=False,
                           handler=broken))
    try:
        graded = asyncio.run(grade([{"type": "broken-fastpath"}, {"type": "contains", "value": "o"}], "ok"))
    finally:
        unregister("broken-fastpath")
    assert graded.components[0]["error"] is True and "RuntimeError: judge down" in graded.components[0]["reason"]
    assert graded.components[1]["passed"] is True and not graded.passed


# -- templates without Jinja2 -----------------------------------------------------------------

SOURCES = ["Answer briefly.", "  {{ q }}\n", "{{q}}", "{{ true }}", "{{ None }}", "a {{ q }}", "{{ q }}{{ r }}",
           "{# note #}x", "{{ q }}\r\n", "line\r\nline", "{ q }", "}} q", "{{ range }}", "{{ q|upper }}", "{{- q }}",
           "\t{{ q }}\t", "{% if q %}y{% endif %}"]
VALUES = [{"q": "v", "r": "w", "true": "T", "range": "R"}, {"q": 3}, {}, {"q": "a\r\nb"}, {"q": "{{ r }}", "r": "x"},
          {"q": None}, {"q": "y" * 1_000_001}]


@pytest.mark.parametrize("source", SOURCES)
def test_rendering_without_jinja_gives_jinjas_text(source):
    for values in VALUES:
        outcomes = []
        for template in (compile_template(source), environment().from_string(source)):  # shortcut, then plain
            try:
                outcomes.append(render_bounded(template, values))
            except Exception as exc:  # the same error class, whichever way
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1], (source, values)


def test_prompt_render_with_plain_sections_is_unchanged():
    prompt = parse_prompt("---\nname: p\ninput: {q: string}\n---\nsystem:\nAnswer briefly.\nuser:\n{{ q }}\n")
    assert prompt.render({"q": " hi "}) == [{"role": "system", "content": "Answer briefly."},
                                            {"role": "user", "content": "hi"}]


# -- keys and fingerprints built from parts ---------------------------------------------------

def test_cache_keys_equal_cache_key():
    config = Config(models={"m": ModelOptions(model="openai/x", api_base="http://h/v1", params={"b": 1, "a": [2]}),
                            "plain": ModelOptions()})
    messages = [[{"role": "user", "content": "héllo \u2028 \"q\""}], [{"role": "system", "content": "s"},
                                                                     {"role": "user", "content": "x", "name": None}]]
    for model in ("m", "plain", "unknown"):
        for params in ({}, {"temperature": 0, "max_tokens": 16, "stop": ["\n"]}):
            key_of = cache_keys(config, model, params)
            for m in messages:
                for i in (0, 3):
                    assert key_of(m, i) == cache_key(config, model, m, params, i)


def test_fingerprint_and_suite_hash_are_the_documented_hashes():
    class Case:
        def __init__(self, d):
            self.d = d

        def to_dict(self):
            return self.d

    class Target:
        cases = [Case({"id": "é", "vars": {"b": 1, "a": [1, 2.5, None, True]}}), Case({"id": "x", "when": object})]
        prompt = type("P", (), {"hash": "abc123"})

    suite = [c.to_dict() for c in Target.cases]
    whole = json.dumps({"prompt": "abc123", "suite": suite, "models": ["a", "b"], "repeat": 2}, sort_keys=True,
                       default=str)
    assert fingerprint(Target, ["b", "a"], 2) == hashlib.sha256(whole.encode()).hexdigest()
    alone = json.dumps(suite, sort_keys=True, default=str)
    assert suite_hash(Target.cases) == hashlib.sha256(alone.encode()).hexdigest()[:16]


# -- the writer -------------------------------------------------------------------------------

class _Store:
    def __init__(self):
        self.groups: list[list[dict]] = []
        self.cache: dict = {}
        self.lock = threading.Lock()

    def add_results(self, rows):
        with self.lock:
            self.groups.append(list(rows))

    def cache_put_many(self, entries):
        self.cache.update(entries)


def test_the_writer_commits_every_result_in_order_and_in_groups():
    store = _Store()
    writer = _Writer(store)
    writer.start()
    for i in range(1200):
        writer.put({"n": i}, (f"k{i}", "m", {"text": str(i)}) if i % 2 else None)
    writer.close()
    rows = [r["n"] for group in store.groups for r in group]
    assert rows == list(range(1200))
    assert len(store.groups) < 1200  # grouped, not one commit per result
    assert sorted(store.cache) == sorted(f"k{i}" for i in range(1, 1200, 2))


def test_the_writer_reports_a_failed_commit_at_close():
    class Failing(_Store):
        def add_results(self, rows):
            raise RuntimeError("disk full")

    writer = _Writer(Failing())
    writer.start()
    writer.put({"n": 1}, None)
    with pytest.raises(Exception, match="could not write results: disk full"):
        writer.close()


def test_a_closed_empty_writer_ends():
    store = _Store()
    writer = _Writer(store)
    writer.start()
    writer.close()
    assert store.groups == [] and not writer.thread.is_alive()
