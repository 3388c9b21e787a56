"""``promptops ci`` sees a change to a file a prompt names, wherever the file lives (issue 12): a
``file://`` in the front matter or in the suite's cells, a ``fewshot`` dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

from promptops.ci import run_ci
from promptops.config import load_config
from promptops.history import History

from .ci_helpers import branch, commit

NO_A = {"Rome", "Berlin", "Tokyo", "Oslo", "Stockholm"}  # the capitals without an 'a'


def _name_a_file(root: Path, line: str) -> None:
    path = root / "prompts" / "capital.prompt"
    path.write_text(path.read_text().replace('    value: "{{ expected }}"\n', '    value: "{{ expected }}"\n' + line))


def test_a_rubric_outside_the_suite_is_a_new_version_scored_base_against_head(git_project: Path) -> None:
    root = git_project
    (root / "shared").mkdir()
    (root / "shared" / "letter.txt").write_text("a")
    _name_a_file(root, "  - {type: icontains, value: file://../shared/letter.txt}\n")
    commit(root, "the prompt names a shared file")
    branch(root, "pr")
    (root / "shared" / "letter.txt").write_text("o")  # the only change of the pull request
    commit(root, "another letter")
    [change] = History(root, "prompts").changed("main", "pr")
    assert (change.name, change.prompt_changed, change.suite_changed) == ("capital", True, True)
    result = run_ci(load_config(root), "main", head="pr")
    [review] = result.reviews
    assert review.base_version != review.head_version
    [c] = review.comparisons
    assert c.paired == 20 and c.base_passed == 15  # base: its own 'a', head: 'o'
    assert c.head_passed == sum("o" in city.lower() for city in
                                ("Paris Madrid Rome Berlin Tokyo Ottawa Cairo Lima Nairobi Oslo Santiago Havana "
                                 "Accra Tehran Baghdad Kathmandu Muscat Warsaw Doha Stockholm").split())


def test_a_file_a_suite_cell_names_outside_the_suite_folder_touches_the_prompt(git_project: Path) -> None:
    root = git_project
    (root / "shared").mkdir()
    (root / "shared" / "note.txt").write_text("Paris")
    (root / "datasets" / "capital" / "extra.yaml").write_text(
        "- {id: extra, vars: {country: France}, assert: [{type: contains, value: file://../../shared/note.txt}]}\n")
    commit(root, "a case names a shared file")
    branch(root, "pr")
    (root / "shared" / "note.txt").write_text("Lyon")
    commit(root, "edit the shared file only")
    [change] = History(root, "prompts").changed("main", "pr")
    assert (change.name, change.prompt_changed, change.suite_changed) == ("capital", False, True)
    [review] = run_ci(load_config(root), "main", head="pr").reviews
    [c] = review.comparisons
    assert c.head_total == 21 and c.head_total_passed == 20  # the edited check fails, in both versions


def test_a_referenced_file_removed_at_head_still_touches_the_prompt(git_project: Path) -> None:
    root = git_project
    (root / "shared").mkdir()
    (root / "shared" / "note.txt").write_text("Paris")
    (root / "datasets" / "capital" / "extra.yaml").write_text(
        "- {id: extra, vars: {country: France}, assert: [{type: contains, value: file://../../shared/note.txt}]}\n")
    commit(root, "a case names a shared file")
    branch(root, "pr")
    (root / "shared" / "note.txt").unlink()
    commit(root, "remove it")
    assert [c.name for c in History(root, "prompts").changed("main", "pr")] == ["capital"]


def test_a_fewshot_dataset_change_touches_the_prompt_and_other_files_do_not(git_project: Path) -> None:
    root = git_project
    (root / "examples").mkdir()
    shots = root / "examples" / "shots.jsonl"
    shots.write_text('{"vars": {"country": "France"}, "expected": "Paris"}\n')
    digest = hashlib.sha256(shots.read_bytes()).hexdigest()
    path = root / "prompts" / "capital.prompt"
    path.write_text(path.read_text().replace("target:", f"fewshot: {{from: examples/shots.jsonl, k: 1, select: fixed, "
                                                        f"sha256: {digest}}}\ntarget:"))
    commit(root, "few-shot examples")
    branch(root, "pr")
    (root / "README.md").write_text("unrelated\n")
    commit(root, "docs")
    assert History(root, "prompts").changed("main", "pr") == []  # nothing the prompt names changed
    shots.write_text('{"vars": {"country": "Spain"}, "expected": "Madrid"}\n')
    assert [c.name for c in History(root, "prompts").changed("main", None)] == ["capital"]  # working tree too
    commit(root, "other examples")
    [change] = History(root, "prompts").changed("main", "pr")
    assert (change.name, change.suite_changed) == ("capital", True)


def test_a_python_graders_file_touches_the_prompt_named_in_the_front_matter_or_a_cell(git_project: Path) -> None:
    root = git_project
    (root / "checks").mkdir()
    (root / "checks" / "front.py").write_text("def get_assert(output, context):\n    return True\n")
    (root / "checks" / "cell.py").write_text("def get_assert(output, context):\n    return True\n")
    _name_a_file(root, "  - {type: python, value: checks/front.py}\n")
    (root / "datasets" / "capital" / "extra.yaml").write_text(
        "- {id: extra, vars: {country: France}, assert: [{type: python, value: 'checks/cell.py:get_assert'}]}\n")
    commit(root, "graders")
    branch(root, "pr")
    for name in ("front", "cell"):
        (root / "checks" / f"{name}.py").write_text("def get_assert(output, context):\n    return False\n")
        assert [c.name for c in History(root, "prompts").changed("HEAD", None)] == ["capital"], name
        commit(root, f"stricter {name}")
