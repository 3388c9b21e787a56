"""promptops.history: versions, resolve, content at refs and changed prompts, on temporary git repos."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from promptops.errors import NotFoundError, PromptopsError, RefError
from promptops.history import History
from promptops.prompts import parse_prompt

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def prompt_text(name: str, user: str = "Say hi to {{ who }}", *, suite: str | None = None,
                front_extra: str = "", input_line: str = "input: {who: string}") -> str:
    suite_line = f"suite: {suite or 'datasets/' + name}\n"
    return (f"---\nname: {name}\n{input_line}\n{suite_line}{front_extra}---\n"
            f"system:\nBe brief.\nuser:\n{user}\n")


class Repo:
    """A throwaway git repository with helpers to write files and commit."""

    def __init__(self, root: Path, init: bool = True):
        self.root = root
        self.n = 0
        root.mkdir(parents=True, exist_ok=True)
        if init:
            self.git("init", "-q", "-b", "main")
            with open(root / ".git" / "config", "a", encoding="utf-8") as config:  # one process less per setting
                config.write("[user]\n\tname = Test Author\n\temail = test@example.com\n"
                             "[commit]\n\tgpgsign = false\n")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        done = subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def cases(self, name: str, *whos: str, file: str = "cases.jsonl") -> None:
        lines = [json.dumps({"vars": {"who": w}, "expected": "hi"}) for w in whos]
        self.write(f"datasets/{name}/{file}", "\n".join(lines) + "\n")

    def commit(self, message: str) -> str:
        self.n += 1
        date = f"2024-01-{self.n:02d}T12:00:00+02:00"
        env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        subprocess.run(["git", "add", "-A"], cwd=self.root, env=env, check=True, capture_output=True)
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=self.root, env=env,
                       check=True, capture_output=True)
        return self.git("rev-parse", "HEAD")


def _build_greet(repo: Repo) -> dict[str, str]:
    """greet: v1 (c1), whitespace-only edit (c2), v2 (c3, tag v2), back to v1 (c4), unrelated commit (c5)."""
    shas = {}
    repo.write("prompts/greet.prompt", prompt_text("greet"))
    repo.cases("greet", "Ann")
    shas["c1"] = repo.commit("add greet\n\nlonger body")
    repo.write("prompts/greet.prompt", prompt_text("greet").replace("input: {who: string}", "input:   {who:  string}"))
    shas["c2"] = repo.commit("reformat greet")
    repo.write("prompts/greet.prompt", prompt_text("greet", "Say hello to {{ who }}"))
    repo.cases("greet", "Ann", "Bob")
    shas["c3"] = repo.commit("greet v2")
    repo.git("tag", "v2")
    repo.write("prompts/greet.prompt", prompt_text("greet"))
    shas["c4"] = repo.commit("back to v1")
    repo.write("README.md", "hello\n")
    shas["c5"] = repo.commit("unrelated")
    return shas


def _build_renamed(repo: Repo) -> dict[str, str]:
    """old (c1, c2), renamed to new at c3 (content kept but for the name), new edited at c4."""
    shas = {}
    repo.write("prompts/old.prompt", prompt_text("old", suite="datasets/shared"))
    repo.write("datasets/shared/cases.jsonl", '{"vars": {"who": "Ann"}, "expected": "hi"}\n')
    shas["c1"] = repo.commit("add old")
    repo.write("prompts/old.prompt", prompt_text("old", "Hello {{ who }}", suite="datasets/shared"))
    shas["c2"] = repo.commit("edit old")
    (repo.root / "prompts/old.prompt").unlink()
    repo.write("prompts/new.prompt", prompt_text("new", "Hello {{ who }}", suite="datasets/shared"))
    shas["c3"] = repo.commit("rename old to new")
    repo.write("prompts/new.prompt", prompt_text("new", "Hello there {{ who }}", suite="datasets/shared"))
    shas["c4"] = repo.commit("edit new")
    return shas


_BUILDERS = {"greet": _build_greet, "renamed": _build_renamed}


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, tuple[Repo, dict[str, str]]]:
    """Template repositories, each built once per module and copied for every test that uses it."""
    built: dict[str, tuple[Repo, dict[str, str]]] = {}

    def get(kind: str) -> tuple[Repo, dict[str, str]]:
        if kind not in built:
            template = Repo(tmp_path_factory.mktemp(kind) / "proj")
            built[kind] = (template, _BUILDERS[kind](template))
        return built[kind]

    return get  # type: ignore[return-value]


@pytest.fixture
def repo(tmp_path: Path, request, templates) -> Repo:
    """An empty repository, or a copy of the template a test asks for (``greet`` or ``renamed``)."""
    kinds = [k for k in _BUILDERS if k in request.fixturenames]
    if not kinds:
        return Repo(tmp_path / "proj")
    template, shas = templates(kinds[0])
    shutil.copytree(template.root, tmp_path / "proj")
    copy = Repo(tmp_path / "proj", init=False)
    copy.n = template.n
    copy.shas = dict(shas)
    return copy


@pytest.fixture
def greet(repo: Repo) -> dict[str, str]:
    return repo.shas


@pytest.fixture
def renamed(repo: Repo) -> dict[str, str]:
    return repo.shas


# ---------------------------------------------------------------------------------- versions


def test_versions_merge_identical_content(repo: Repo, greet: dict[str, str]) -> None:
    versions = History(repo.root).versions("greet")
    assert [v.working_tree for v in versions] == [False, False]
    v1, v2 = versions
    # newest first: v1 (reappeared at c4) then v2; reformatting at c2 kept v1
    assert [c.sha for c in v1.commits] == [greet["c4"], greet["c2"], greet["c1"]]
    assert [c.sha for c in v2.commits] == [greet["c3"]]
    assert v1.hash != v2.hash and len(v1.hash) == 64 and v1.version == v1.hash[:12]
    assert all(c.path == "prompts/greet.prompt" for c in v1.commits)
    first = v1.commits[-1]
    assert first.message == "add greet" and first.author == "Test Author" and first.short == first.sha[:7]
    assert first.date == datetime.fromisoformat("2024-01-01T12:00:00+02:00") and first.date.tzinfo is not None
    assert v1.prompt is not None and v1.prompt.hash == v1.hash and v1.error is None


@pytest.mark.parametrize("edit, expect_wt", [
    ("none", False),
    ("whitespace", False),   # a reformatting of the front matter is the same version
    ("content", True),
    ("broken", True),
])
def test_working_tree_version(repo: Repo, greet: dict[str, str], edit: str, expect_wt: bool) -> None:
    path = repo.root / "prompts/greet.prompt"
    if edit == "whitespace":
        path.write_text(prompt_text("greet").replace("name: greet", "name:    greet"))
    elif edit == "content":
        path.write_text(prompt_text("greet", "Greet {{ who }} warmly"))
    elif edit == "broken":
        path.write_text("---\nname: greet\n")
    versions = History(repo.root).versions("greet")
    assert versions[0].working_tree is expect_wt
    if expect_wt:
        assert versions[0].commits == [] and len(versions) == 3
        assert (versions[0].error is not None) is (edit == "broken")


def test_untracked_prompt_has_only_a_working_tree_version(repo: Repo, greet: dict[str, str]) -> None:
    repo.write("prompts/fresh.prompt", prompt_text("fresh", suite="datasets/greet"))
    (only,) = History(repo.root).versions("fresh")
    assert only.working_tree and only.commits == [] and only.prompt.name == "fresh"


def test_unparsable_commit_is_listed_with_error(repo: Repo) -> None:
    repo.write("prompts/p.prompt", prompt_text("p"))
    repo.cases("p", "Ann")
    repo.commit("ok")
    repo.write("prompts/p.prompt", "no front matter\n")
    repo.commit("broken")
    repo.write("prompts/p.prompt", prompt_text("p", "Hey {{ who }}"))
    repo.commit("fixed")
    versions = History(repo.root).versions("p")
    assert [v.error is not None for v in versions] == [False, True, False]
    assert "front matter" in versions[1].error and versions[1].prompt is None


def test_unknown_prompt_versions(repo: Repo, greet: dict[str, str]) -> None:
    with pytest.raises(NotFoundError):
        History(repo.root).versions("nope")


# ---------------------------------------------------------------------------------- resolve


def _spec_cases():
    # (ref builder from (shas, versions), expected commit key or None for working tree, expected user text)
    return [
        ("working tree", lambda s, v: None, None, "Say hi"),
        ("version prefix v1", lambda s, v: v[0].version[:6], "c4", "Say hi"),
        ("version prefix v2 (full)", lambda s, v: v[1].hash, "c3", "Say hello"),
        ("full sha", lambda s, v: s["c3"], "c3", "Say hello"),
        ("short sha", lambda s, v: s["c2"][:9], "c2", "Say hi"),
        ("branch", lambda s, v: "main", "c5", "Say hi"),
        ("tag", lambda s, v: "v2", "c3", "Say hello"),
        ("HEAD~2", lambda s, v: "HEAD~2", "c3", "Say hello"),
        ("label", lambda s, v: "production", "c3", "Say hello"),
    ]


@pytest.mark.parametrize("label, make_ref, commit_key, text", _spec_cases(), ids=[c[0] for c in _spec_cases()])
def test_resolve(repo: Repo, greet: dict[str, str], label, make_ref, commit_key, text) -> None:
    labels = {("greet", "production"): greet["c3"]}
    history = History(repo.root, label_resolver=lambda name, lab: labels.get((name, lab)))
    ref = make_ref(greet, history.versions("greet"))
    resolved = history.resolve("greet" if ref is None else f"greet@{ref}")
    assert resolved.name == "greet" and resolved.path == "prompts/greet.prompt"
    assert resolved.commit == (greet[commit_key] if commit_key else None)
    assert resolved.ref == ref
    assert text in resolved.prompt.render({"who": "Ann"})[-1]["content"]
    assert resolved.version == resolved.prompt.version
    if ref is not None:
        assert history.prompt_at("greet", ref).hash == resolved.prompt.hash


def test_resolve_version_prefix_of_working_tree_content(repo: Repo, greet: dict[str, str]) -> None:
    repo.write("prompts/greet.prompt", prompt_text("greet", "Wave at {{ who }}"))
    history = History(repo.root)
    wt = history.versions("greet")[0]
    resolved = history.resolve(f"greet@{wt.version}")
    assert resolved.commit is None and "Wave" in resolved.prompt.sections[-1].template


def test_label_resolver_is_tried_after_version_and_rev(repo: Repo, greet: dict[str, str]) -> None:
    calls = []

    def resolver(name: str, label: str) -> str | None:
        calls.append(label)
        return {"staging": greet["c1"]}.get(label)

    history = History(repo.root, label_resolver=resolver)
    assert history.resolve("greet@main").commit == greet["c5"]
    assert calls == []
    assert history.resolve("greet@staging").commit == greet["c1"]
    with pytest.raises(RefError, match="promptops log greet"):
        history.resolve("greet@canary")
    assert calls == ["staging", "canary"]


def test_ambiguous_version_prefix(repo: Repo) -> None:
    # find two contents whose hashes share their first 4 hex digits, then commit both
    seen: dict[str, str] = {}
    for i in range(2000):
        text = prompt_text("p", f"Variant {i} for {{{{ who }}}}")
        digest = parse_prompt(text).hash
        if digest[:4] in seen:
            pair = (seen[digest[:4]], text)
            break
        seen[digest[:4]] = text
    else:  # pragma: no cover - a 4-digit collision among 2000 hashes is all but certain
        pytest.skip("no prefix collision found")
    repo.cases("p", "Ann")
    for n, text in enumerate(pair):
        repo.write("prompts/p.prompt", text)
        repo.commit(f"variant {n}")
    history = History(repo.root)
    a, b = (v.hash for v in history.versions("p"))
    with pytest.raises(RefError, match="ambiguous") as err:
        history.resolve(f"p@{a[:4]}")
    assert a[:12] in str(err.value) and b[:12] in str(err.value)
    assert history.resolve(f"p@{a[:12]}").prompt.hash == a


@pytest.mark.parametrize("spec, error, fragment", [
    ("greet@zzzz-no-such-ref", RefError, "promptops log greet"),
    ("greet@abcdef0123", RefError, "unknown version"),
    ("greet@", RefError, "empty ref"),
    ("@main", RefError, "no prompt name"),
    ("nope", NotFoundError, "not found"),
    ("nope@main", RefError, "does not exist at commit"),
    ("greet@--help", RefError, "unknown"),
    ("../greet", NotFoundError, "invalid prompt name"),
    ("a/b@main", NotFoundError, "invalid prompt name"),
])
def test_resolve_errors(repo: Repo, greet: dict[str, str], spec: str, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment) as info:
        History(repo.root).resolve(spec)
    assert info.value.hint


def test_not_a_git_repository(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "prompts").mkdir(parents=True)
    (root / "datasets/greet").mkdir(parents=True)
    (root / "datasets/greet/cases.jsonl").write_text('{"vars": {"who": "Ann"}}\n')
    (root / "prompts/greet.prompt").write_text(prompt_text("greet"))
    history = History(root)
    assert [p.name for p in history.list_prompts()] == ["greet"]
    assert history.resolve("greet").commit is None
    assert not history.is_git
    for call in (lambda: history.versions("greet"), lambda: history.resolve("greet@main"),
                 lambda: history.changed("main")):
        with pytest.raises(RefError, match="not a git repository") as info:
            call()
        assert "git init" in info.value.hint


def test_list_prompts_sorted(repo: Repo, greet: dict[str, str]) -> None:
    repo.write("prompts/alpha.prompt", prompt_text("alpha", suite="datasets/greet"))
    repo.write("prompts/notes.txt", "ignored")
    assert [p.name for p in History(repo.root).list_prompts()] == ["alpha", "greet"]


# ---------------------------------------------------------------------------------- renames


def test_rename_keeps_history(repo: Repo, renamed: dict[str, str]) -> None:
    history = History(repo.root)
    versions = history.versions("new")
    commits = [(c.sha, c.path) for v in versions for c in v.commits]
    assert commits == [(renamed["c4"], "prompts/new.prompt"), (renamed["c3"], "prompts/new.prompt"),
                       (renamed["c2"], "prompts/old.prompt"), (renamed["c1"], "prompts/old.prompt")]
    assert len(versions) == 4  # the name is part of the content, so the rename is a new version
    assert [v.prompt.name for v in versions] == ["new", "new", "old", "old"]


@pytest.mark.parametrize("key, path, text", [
    ("c1", "prompts/old.prompt", "Say hi to {{ who }}"),
    ("c2", "prompts/old.prompt", "Hello {{ who }}"),
    ("c3", "prompts/new.prompt", "Hello {{ who }}"),
])
def test_resolve_at_old_commit_reads_old_path(repo: Repo, renamed: dict[str, str], key, path, text) -> None:
    history = History(repo.root)
    resolved = history.resolve(f"new@{renamed[key]}")
    assert resolved.path == path and resolved.name == "new"
    assert resolved.prompt.sections[-1].template.strip() == text
    assert resolved.prompt.source == f"{path}@{renamed[key][:7]}"
    # by version prefix too
    version = history.resolve(f"new@{resolved.prompt.version}")
    assert version.path == path and version.prompt.hash == resolved.prompt.hash


def test_text_at(repo: Repo, renamed: dict[str, str]) -> None:
    history = History(repo.root)
    assert "Hello {{ who }}" in history.text_at("prompts/old.prompt", renamed["c2"])
    assert history.text_at("prompts/new.prompt", None).endswith("Hello there {{ who }}\n")
    with pytest.raises(NotFoundError):
        history.text_at("prompts/old.prompt", "HEAD")


# ---------------------------------------------------------------------------------- suites


def test_suite_at_old_ref(repo: Repo, greet: dict[str, str]) -> None:
    history = History(repo.root)
    prompt = history.prompt_at("greet", None)
    assert [c.vars["who"] for c in history.suite_at(prompt, None)] == ["Ann", "Bob"]
    assert [c.vars["who"] for c in history.suite_at(prompt, greet["c1"])] == ["Ann"]
    assert [c.vars["who"] for c in history.suite_at(prompt, "v2")] == ["Ann", "Bob"]


def test_suite_at_file_suite_and_missing(repo: Repo) -> None:
    repo.write("prompts/f.prompt", prompt_text("f", suite="datasets/f.yaml"))
    repo.write("datasets/f.yaml", "- vars: {who: Ann}\n  expected: hi\n")
    first = repo.commit("file suite")
    repo.write("datasets/f.yaml", "- vars: {who: Ann}\n- vars: {who: Cy}\n")
    repo.commit("more")
    history = History(repo.root)
    prompt = history.prompt_at("f", "HEAD")
    assert len(history.suite_at(prompt, first)) == 1 and len(history.suite_at(prompt, "HEAD")) == 2
    with pytest.raises(PromptopsError, match="does not exist"):
        history.suite_at(dataclasses.replace(prompt, suite="datasets/later"), first)
    no_suite = dataclasses.replace(prompt, suite=None)
    with pytest.raises(PromptopsError, match="has no suite"):
        history.suite_at(no_suite, None)


# ---------------------------------------------------------------------------------- changed


def _changes(history: History, base: str, head: str | None):
    return [(c.name, c.old_name, c.status, c.prompt_changed, c.suite_changed) for c in history.changed(base, head)]


def test_changed_between_commits(repo: Repo) -> None:
    for name in ("keep", "mod", "gone", "ren", "suite", "ws"):
        repo.write(f"prompts/{name}.prompt", prompt_text(name))
        repo.cases(name, "Ann")
    base = repo.commit("base")
    repo.write("prompts/mod.prompt", prompt_text("mod", "Changed {{ who }}"))
    (repo.root / "prompts/gone.prompt").unlink()
    (repo.root / "prompts/ren.prompt").unlink()
    repo.write("prompts/renamed.prompt", prompt_text("renamed", suite="datasets/ren"))
    repo.cases("suite", "Ann", "Bob")
    repo.write("prompts/ws.prompt", prompt_text("ws").replace("name: ws", "name:   ws"))
    long_body = "\n".join(f"Line {i}: translate {{{{ who }}}} into language number {i}." for i in range(12))
    repo.write("prompts/added.prompt", prompt_text("added", long_body, suite="datasets/keep"))
    repo.write("datasets/keep/notes.md", "not a suite file\n")
    head = repo.commit("head")
    history = History(repo.root)
    assert _changes(history, base, head) == [
        ("added", None, "added", True, False),
        ("gone", "gone", "removed", True, False),
        ("mod", "mod", "modified", True, False),
        ("renamed", "ren", "renamed", True, False),
        ("suite", "suite", "modified", False, True),
        ("ws", "ws", "modified", False, False),
    ]
    needs = [c.name for c in history.changed(base, head) if c.needs_eval]
    assert needs == ["added", "mod", "renamed", "suite"]
    assert history.changed(head, head) == []


def test_changed_against_working_tree(repo: Repo, greet: dict[str, str]) -> None:
    history = History(repo.root)
    assert history.changed("HEAD", None) == []
    repo.write("prompts/fresh.prompt", prompt_text("fresh", suite="datasets/fresh"))  # untracked
    repo.cases("fresh", "Zed")
    repo.cases("greet", "Ann", "Bob", "Cy")  # suite-only change, uncommitted
    assert _changes(history, "HEAD", None) == [
        ("fresh", None, "added", True, True),
        ("greet", "greet", "modified", False, True),
    ]
    # since the tag v2: the prompt went back to v1 (content changed) and now the suite too
    assert _changes(history, "v2", None)[1] == ("greet", "greet", "modified", True, True)
    # an uncommitted plain `mv` is a rename
    (repo.root / "prompts/greet.prompt").rename(repo.root / "prompts/hello.prompt")
    text = (repo.root / "prompts/hello.prompt").read_text().replace("name: greet", "name: hello")
    (repo.root / "prompts/hello.prompt").write_text(text)
    assert ("hello", "greet", "renamed", True, True) in _changes(history, "HEAD", None)


def test_merge_base_and_branches(repo: Repo, greet: dict[str, str]) -> None:
    repo.git("checkout", "-q", "-b", "feature", greet["c3"])
    repo.write("prompts/greet.prompt", prompt_text("greet", "Yo {{ who }}"))
    feature = repo.commit("feature edit")
    history = History(repo.root)
    assert history.merge_base("main", "feature") == greet["c3"]
    assert _changes(history, history.merge_base("main", "feature"), "feature") == [
        ("greet", "greet", "modified", True, False)]
    assert history.resolve("greet@feature").commit == feature
    assert history.rev_parse("feature") == feature
    history.close()
    with History(repo.root) as again:  # reopens after close
        assert again.rev_parse("main") == greet["c5"]


def test_root_inside_repository_and_merge_commit(repo: Repo) -> None:
    """root may be a folder of the work tree; a merge that resolves a conflict is a version."""
    repo.write("sub/prompts/a.prompt", prompt_text("a"))
    repo.write("sub/datasets/a/c.jsonl", '{"vars": {"who": "x"}}\n')
    repo.write("outside/prompts/a.prompt", "not ours\n")
    one = repo.commit("one")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("sub/prompts/a.prompt", prompt_text("a", "Side {{ who }}"))
    side = repo.commit("side")
    repo.git("checkout", "-q", "main")
    repo.write("sub/prompts/a.prompt", prompt_text("a", "Main {{ who }}"))
    main = repo.commit("main")
    subprocess.run(["git", "merge", "-q", "side"], cwd=repo.root, capture_output=True,
                   env={**os.environ, **GIT_ENV})  # conflicts
    repo.write("sub/prompts/a.prompt", prompt_text("a", "Merged {{ who }}"))
    merge = repo.commit("merge")
    history = History(repo.root / "sub")
    versions = history.versions("a")
    assert [v.commits[0].sha for v in versions] == [merge, main, side, one]
    assert {c.path for v in versions for c in v.commits} == {"prompts/a.prompt"}
    resolved = history.resolve("a@HEAD^2")
    assert (resolved.commit, resolved.path) == (side, "prompts/a.prompt")
    assert history.text_at("prompts/a.prompt", one) == prompt_text("a")
    repo.write("sub/datasets/a/c.jsonl", '{"vars": {"who": "y"}}\n')
    repo.write("outside/prompts/b.prompt", "not ours either\n")
    assert _changes(history, one, None) == [("a", "a", "modified", True, True)]
    assert _changes(history, main, side) == [("a", "a", "modified", True, False)]


def test_label_pointing_at_missing_commit(repo: Repo, greet: dict[str, str]) -> None:
    history = History(repo.root, label_resolver=lambda name, label: "0" * 39 + "1")
    with pytest.raises(RefError, match="unknown commit"):
        history.resolve("greet@production")


def test_resolved_prompt_is_a_copy(repo: Repo, greet: dict[str, str]) -> None:
    history = History(repo.root)
    first = history.resolve("greet@v2").prompt
    first.suite = "elsewhere"
    assert history.resolve("greet@v2").prompt.suite == "datasets/greet"


def test_history_module_does_not_import_git() -> None:
    code = "import sys, promptops.history as h; h.History('.').list_prompts(); print('git' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"


def test_current_branch_from_head(repo: Repo, greet: dict[str, str], tmp_path: Path) -> None:
    """The branch is read from HEAD without GitPython: a branch, a subfolder, a worktree, a detached
    HEAD and a folder outside any repository."""
    assert History(repo.root).current_branch() == "main"
    repo.git("checkout", "-q", "-b", "feature/x")
    assert History(repo.root / "prompts").current_branch() == "feature/x"
    repo.git("worktree", "add", "-q", str(tmp_path / "wt"), "-b", "other")
    assert History(tmp_path / "wt").current_branch() == "other"
    repo.git("checkout", "-q", "--detach")
    assert History(repo.root).current_branch() is None
    outside = tmp_path / "plain"
    outside.mkdir()
    assert History(outside).current_branch() is None
