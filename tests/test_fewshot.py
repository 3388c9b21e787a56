"""Dynamic few-shot (promptops.fewshot): selection, the version hash, errors, render and the server."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from promptops import fewshot
from promptops.errors import PromptFileError, RenderError
from promptops.prompts import load_prompt, parse_prompt

ROWS = [("I loved this film", "positive"), ("What a dreadful bore", "negative"), ("Loved every minute", "positive"),
        ("Boring and dreadful", "negative"), ("A fine cast", "positive"), ("Awful script", "negative")]


def _letters(texts: list[str]) -> list[list[float]]:
    """A torch-free embedder for tests: unit vectors of word counts hashed into 4096 buckets."""
    out = []
    for text in texts:
        v = [0.0] * 4096
        for word in text.lower().split():
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 4096] += 1
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        out.append([x / norm for x in v])
    return out


@pytest.fixture(autouse=True)
def _embedder():
    fewshot.use_embedder(_letters, "test-words")
    yield
    fewshot.use_embedder(None)


def _project(root: Path, select: str = "similar", k: int = 2, sha: str | None = None) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    data = "".join(json.dumps({"vars": {"text": t}, "expected": e}) + "\n" for t, e in ROWS)
    (root / "datasets" / "ex.jsonl").write_text(data)
    sha = sha or hashlib.sha256(data.encode()).hexdigest()
    (root / "prompts" / "sent.prompt").write_text(
        "---\nname: sent\ninput: {text: string}\n"
        f"fewshot: {{from: datasets/ex.jsonl, k: {k}, select: {select}, sha256: {sha}}}\n"
        "---\nsystem:\nSay positive or negative.\nuser:\n{{ text }}\n")
    return root / "prompts" / "sent.prompt"


def test_similar_examples_go_before_the_final_user_turn_nearest_last(tmp_path: Path) -> None:
    prompt = load_prompt(_project(tmp_path), root=tmp_path)
    messages = prompt.render({"text": "dreadful film"})
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[-1]["content"] == "dreadful film"
    shown = [messages[1]["content"], messages[3]["content"]]
    assert "dreadful" in shown[1].lower()  # the nearest sits next to the case
    assert messages[4]["content"] == "negative"
    assert list((tmp_path / ".promptops" / "fewshot").glob("*.json"))  # embeddings cached once per dataset


def test_an_example_identical_to_the_input_is_never_selected(tmp_path: Path) -> None:
    prompt = load_prompt(_project(tmp_path, k=6), root=tmp_path)
    messages = prompt.render({"text": "Awful script"})
    users = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
    assert "Awful script" not in users and len(users) == 5


@pytest.mark.parametrize("select", ["random", "fixed"])
def test_random_and_fixed_need_no_embedder(tmp_path: Path, select: str) -> None:
    fewshot.use_embedder(lambda texts: pytest.fail("embedded"), "never")
    prompt = load_prompt(_project(tmp_path, select=select, k=3), root=tmp_path)
    first = prompt.render({"text": "A new film"})
    assert first == prompt.render({"text": "A new film"}) and len(first) == 8
    if select == "fixed":
        assert first[1]["content"] == "I loved this film"


def test_the_dataset_hash_is_part_of_the_version(tmp_path: Path) -> None:
    a = load_prompt(_project(tmp_path / "a"), root=tmp_path / "a")
    b = load_prompt(_project(tmp_path / "b", sha="f" * 64), root=tmp_path / "b")
    assert a.hash != b.hash
    text = (tmp_path / "a" / "prompts" / "sent.prompt").read_text()
    assert parse_prompt(text, source="x").hash == a.hash  # no root needed: the hash is in the text


def test_a_changed_or_missing_dataset_under_a_version_is_a_clear_error(tmp_path: Path) -> None:
    path = _project(tmp_path)
    prompt = load_prompt(path, root=tmp_path)
    with (tmp_path / "datasets" / "ex.jsonl").open("a") as f:
        f.write(json.dumps({"vars": {"text": "new"}, "expected": "positive"}) + "\n")
    with pytest.raises(RenderError, match="changed under this version") as exc:
        prompt.render({"text": "x"})
    assert "sent.prompt:4" in exc.value.where
    (tmp_path / "datasets" / "ex.jsonl").unlink()
    with pytest.raises(RenderError, match="is missing"):
        prompt.render({"text": "x"})


def test_bad_fewshot_keys_name_the_line(tmp_path: Path) -> None:
    base = "---\nname: s\ninput: {text: string}\nfewshot: %s\n---\nuser:\n{{ text }}\n"
    for spec, message in [("{from: d.jsonl, k: -1, sha256: %s}" % ("a" * 64), "fewshot.k"),
                          ("{from: d.jsonl, select: best, sha256: %s}" % ("a" * 64), "fewshot.select"),
                          ("{from: d.jsonl}", "needs 'sha256'"), ("{from: ../d.jsonl, sha256: %s}" % ("a" * 64),
                                                                  "leaves the repository")]:
        with pytest.raises(PromptFileError, match=message) as exc:
            parse_prompt(base % spec, source="s.prompt")
        assert exc.value.where == "s.prompt:4"


def test_an_example_that_does_not_fit_the_prompt_names_its_line(tmp_path: Path) -> None:
    path = _project(tmp_path)
    data = (tmp_path / "datasets" / "ex.jsonl").read_text() + json.dumps({"vars": {"other": 1}, "expected": "x"}) + "\n"
    (tmp_path / "datasets" / "ex.jsonl").write_text(data)
    text = path.read_text().replace(text_sha(path), hashlib.sha256(data.encode()).hexdigest())
    path.write_text(text)
    with pytest.raises(RenderError) as exc:
        load_prompt(path, root=tmp_path).render({"text": "x"})
    assert exc.value.where == "datasets/ex.jsonl:7"


def text_sha(path: Path) -> str:
    return path.read_text().split("sha256: ")[1].split("}")[0]


def test_render_command_shows_the_turns(tmp_path: Path, cli) -> None:
    _project(tmp_path)
    (tmp_path / "promptops.yaml").write_text("default_model: fake/a\n")
    result = cli("render", "sent", "--var", "text=dreadful film", cwd=tmp_path, code=0)
    assert "negative" in result.stdout and "dreadful film" in result.stdout


@pytest.mark.slow
def test_similar_with_the_embedded_model(tmp_path: Path) -> None:
    fewshot.use_embedder(None)
    prompt = load_prompt(_project(tmp_path, k=1), root=tmp_path)
    messages = prompt.render({"text": "The screenplay was terrible"})
    assert messages[1]["content"] == "Awful script" and messages[2]["content"] == "negative"


def test_the_server_and_the_gateway_serve_the_turns(git_project: Path, fake_openai) -> None:
    from fastapi.testclient import TestClient

    from promptops.project import Project
    from promptops.server import create_app
    from promptops.testing.project import git

    root = git_project
    (root / "prompts").rename(root / "p0")
    _project_in(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "sent")
    seen = []
    fake_openai.configure(rules=lambda model, messages: seen.append(messages) or "negative")
    project = Project.load(root)
    try:
        client = TestClient(create_app(project, store=project.store, cache_ttl=0))
        version = load_prompt(root / "prompts" / "sent.prompt", root=root).version
        body = client.post("/v1/prompts/sent/render", json={"variables": {"text": "dreadful film"},
                                                             "version": version}).json()
        assert [m["role"] for m in body["messages"]][-3:] == ["user", "assistant", "user"]
        answer = client.post("/v1/chat/completions", json={"model": f"prompt:sent@{version}", "messages": [],
                                                           "variables": {"text": "dreadful film"}},
                             headers={"Authorization": f"Bearer {project.store.create_api_key('write', 't')[0]}"})
        assert answer.status_code == 200, answer.text
        assert seen and [m["role"] for m in seen[-1]] == [m["role"] for m in body["messages"]]
    finally:
        project.close()


def _project_in(root: Path) -> None:
    (root / "prompts").mkdir()
    data = "".join(json.dumps({"vars": {"text": t}, "expected": e}) + "\n" for t, e in ROWS)
    (root / "datasets" / "ex.jsonl").write_text(data)
    sha = hashlib.sha256(data.encode()).hexdigest()
    (root / "prompts" / "sent.prompt").write_text(
        "---\nname: sent\nmodel: fake/a\ninput: {text: string}\n"
        f"fewshot: {{from: datasets/ex.jsonl, k: 2, select: similar, sha256: {sha}}}\n"
        "---\nsystem:\nSay positive or negative.\nuser:\n{{ text }}\n")
