"""CPU per case of the eval language's own work: loading and checking a suite, and grading.

1,000 JSONL cases with `expected`, a prompt whose default is `iequals "{{ expected }}"`; the best of
7 rounds of CPU time (process_time), so other load on the machine matters less. Run it on two trees
to compare, e.g.:

    PYTHONPATH=. python bench/bench_suites.py
    git stash; PYTHONPATH=. python bench/bench_suites.py; git stash pop
"""

from __future__ import annotations

import asyncio
import json
import time

from promptops.assertions import case_specs, grade
from promptops.prompts import parse_prompt
from promptops.suites import check_cases, parse_suite_texts

N = 1000
PROMPT = parse_prompt("---\nname: p\ninput: {text: string}\nassert:\n  - {type: iequals, value: '{{ expected }}'}\n"
                      "---\nuser:\n{{ text }}\n", source="prompts/p.prompt", expected_name="p")
TEXT = "".join(json.dumps({"id": f"c{i}", "vars": {"text": f"t{i}"}, "expected": f"t{i}"}) + "\n" for i in range(N))


def load():
    cases = parse_suite_texts([("datasets/s/c.jsonl", TEXT)])
    check_cases(cases, PROMPT)
    return cases


async def grade_all(cases) -> None:
    for c in cases:
        await grade(case_specs(PROMPT.asserts, c.asserts, c.expected), c.vars["text"], expected=c.expected, vars=c.vars)


def main() -> None:
    cases = load()
    asyncio.run(grade_all(cases))
    best_load = best_grade = float("inf")
    for _ in range(7):
        start = time.process_time()
        cases = load()
        best_load = min(best_load, time.process_time() - start)
        start = time.process_time()
        asyncio.run(grade_all(cases))
        best_grade = min(best_grade, time.process_time() - start)
    print(f"load+check {best_load * 1e6 / N:.1f} µs/case, grade {best_grade * 1e6 / N:.1f} µs/case")


if __name__ == "__main__":
    main()
